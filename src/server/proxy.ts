import type { FastifyInstance } from 'fastify';
import type { ProxyConfig } from '../config/config.ts';
import { caSourceOf, openCa } from '../proxy/ca-files.ts';
import { proxyPolicyOf } from '../proxy/config.ts';
import { createProxyMetrics } from '../proxy/metrics.ts';
import { type InterceptingProxy, startInterceptingProxy } from '../proxy/server.ts';
import type { AppContext } from './context.ts';
import { listenError } from './listen-error.ts';
import type { ProxyClient } from './proxy-client.ts';

/**
 * Opens the proxy's CA and starts the intercepting proxy (README "Clients that cannot set a
 * base URL"): decrypted sessions go to the bridge's own HTTP server, whose front door routes
 * them to the mapped provider. `bridgeAddress` is where the bridge listens (a tunnel there
 * would be a loop). A CA or listen failure is one line naming the setting.
 */
export async function startProxy(
  ctx: AppContext,
  app: FastifyInstance,
  proxy: ProxyConfig,
  bridgeAddress: string,
): Promise<InterceptingProxy> {
  const log = ctx.logger.child({ component: 'proxy' });
  const ca = await openCa(caSourceOf(ctx.config.data_dir, proxy)); // a CaError names the file and what to do
  let running: InterceptingProxy;
  try {
    running = await startInterceptingProxy<ProxyClient>({
      listen: proxy.listen,
      ...proxyPolicyOf(proxy),
      ca,
      authenticate: async (token) => {
        const principal = await ctx.authenticator.authenticate(token);
        return principal ? { authenticate: () => ctx.authenticator.authenticate(token) } : null;
      },
      serve: (socket) => app.server.emit('connection', socket),
      bridgeAddresses: [bridgeAddress],
      metrics: createProxyMetrics(ctx.metrics.registry),
      logger: log,
    });
  } catch (err) {
    throw listenError((err as Error).cause ?? err, `${proxy.listen} (proxy.listen)`);
  }
  log.info(
    { url: running.url, hosts: Object.keys(proxy.hosts), tunnel: proxy.tunnel, ca_sha256: ca.fingerprint },
    'intercepting proxy listening',
  );
  return running;
}
