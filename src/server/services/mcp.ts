import type { Config } from '../../config/config.ts';
import { CachedBridgePool } from '../../mcp/cached-bridge-pool.ts';
import { credentialsKeyFromEnv, McpCredentials } from '../../mcp/credentials.ts';
import { ServerProxyManager } from '../../mcp/server-proxy-manager.ts';
import type { AppContext } from '../context.ts';
import type { Service } from './service.ts';

export type McpRuntime = NonNullable<AppContext['mcp']>;

/**
 * A manager and a per-user pool for these servers, connected (never blocking past the connect
 * timeout on one that is down). Given the running manager, its proxies of unchanged entries are
 * kept rather than reconnected. Start-up and reload both build the MCP side here.
 */
export async function connectMcp(
  ctx: AppContext,
  config: Pick<Config, 'mcp_servers' | 'mcp'>,
  running?: ServerProxyManager,
): Promise<McpRuntime> {
  const servers = config.mcp_servers;
  const perUser = servers.some((s) => s.per_user_credentials);
  // Fail now, clearly, rather than on a user's first request.
  const credentials = perUser ? new McpCredentials(ctx.store.credentials, credentialsKeyFromEnv()) : undefined;
  const logger = ctx.logger.child({ component: 'mcp' });
  const manager = new ServerProxyManager(servers, logger, {
    adopt: running?.sharedProxies,
    maxTools: config.mcp.max_tools,
  });
  await manager.init();
  return { manager, pool: new CachedBridgePool(manager, credentials, logger) };
}

/** Connects the configured MCP servers at start-up, puts them on the context and reports them in /readyz. */
export const mcpService: Service = async (ctx) => {
  ctx.mcp = await connectMcp(ctx, ctx.config);
  // Read at each call: a reload replaces ctx.mcp.
  ctx.readiness.push(() => ({ mcp_servers: ctx.mcp?.manager.status() ?? {} }));
  return {
    async stop() {
      await ctx.mcp?.pool.close();
      await ctx.mcp?.manager.close();
    },
  };
};
