import type { IncomingMessage } from 'node:http';
import type { Principal } from '../identity/users.ts';
import { proxyFactsOf } from '../proxy/facts.ts';

/**
 * Who opened an intercepted session, as the bridge's routes meet it. The CONNECT's token is
 * checked again for each request inside (the authenticator caches it), so a token revoked or
 * expired while its session stays open stops working there as it would on a direct request.
 * The token lives only in a closure: nothing that prints or logs the object can show it.
 */
export interface ProxyClient {
  authenticate(): Promise<Principal | null>;
}

/** The proxy client of a request that came through an intercepted session, else undefined. */
export function proxyClientOf(req: IncomingMessage): ProxyClient | undefined {
  return proxyFactsOf<ProxyClient>(req.socket)?.principal;
}

/** How a request reached the bridge, when through the proxy: `via: proxy` and the host the client asked for. */
export function proxyMetadataOf(req: IncomingMessage): Record<string, unknown> | undefined {
  const facts = proxyFactsOf(req.socket);
  return facts ? { via: 'proxy', proxy_host: facts.host } : undefined;
}
