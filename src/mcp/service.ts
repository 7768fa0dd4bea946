import { CachedBridgePool } from '../pool/cached-bridge-pool.ts';
import type { Service } from '../server/services.ts';
import { credentialsKeyFromEnv, McpCredentials } from './credentials.ts';
import { ServerProxyManager } from './server-proxy-manager.ts';

/**
 * Connects the configured MCP servers at start-up (never blocking on one that is down),
 * puts the manager and the per-user pool on the context and reports them in /readyz.
 */
export const mcpService: Service = async (ctx) => {
  const servers = ctx.config.mcp_servers;
  const perUser = servers.some((s) => s.per_user_credentials);
  // Fail start-up now, clearly, rather than on a user's first request.
  const credentials = perUser ? new McpCredentials(ctx.store.credentials, credentialsKeyFromEnv()) : undefined;
  const logger = ctx.logger.child({ component: 'mcp' });
  const manager = new ServerProxyManager(servers, logger);
  await manager.init();
  const pool = new CachedBridgePool(manager, credentials, logger);
  ctx.mcp = { manager, pool };
  ctx.readiness.push(() => ({ mcp_servers: manager.status() }));
  return {
    async stop() {
      await pool.close();
      await manager.close();
    },
  };
};
