import type { McpServerConfig } from '../config/config.ts';
import { ROLES, type Role } from '../identity/users.ts';
import type { Logger } from '../observability/logger.ts';
import { ServerAccess } from './access.ts';
import { StreamableHTTPServerProxy } from './streamable-http-proxy.ts';

export interface ServerCheck {
  name: string;
  url: string;
  /**
   * `ready`; `failed` (unreachable, or broken: see reason); `needs_credentials`: a per-user
   * server that answered but refused a connection without a user's own headers.
   */
  state: 'ready' | 'failed' | 'needs_credentials';
  reason: string | null;
  /** Tools after the allow/deny regexes. */
  tools: number;
  /** Roles whose users are given this server's tools. */
  roles: Role[];
  /** With a role: whether that role is given them. */
  allowed?: boolean;
  /** Injected names after the regexes (and, with a role, none when the role is not given the server). */
  injected: string[];
  per_user_credentials: boolean;
  note: string | null;
}

const PER_USER_NOTE = "per_user_credentials: the bridge connects with each user's own headers; checked without them";

/**
 * Connects to each server exactly as the bridge does (the same proxy: headers, timeouts, every
 * tools/list page, the regexes, injected names), then disconnects. Per-user servers are tried
 * with the configured headers only.
 */
export async function checkServers(
  servers: readonly McpServerConfig[],
  options: { logger: Logger; role?: Role; connectTimeoutMs?: number },
): Promise<ServerCheck[]> {
  const access = new Map(ROLES.map((role) => [role, new ServerAccess(servers, role, [])]));
  return Promise.all(
    servers.map(async (server): Promise<ServerCheck> => {
      const proxy = new StreamableHTTPServerProxy(server, {
        logger: options.logger,
        connectTimeoutMs: options.connectTimeoutMs,
      });
      try {
        const ready = await proxy.init();
        const refused = proxy.refusedWith;
        const needsCredentials = !ready && server.per_user_credentials && (refused === 401 || refused === 403);
        const allowed = options.role ? access.get(options.role)?.allows(server.name) : undefined;
        return {
          name: server.name,
          url: proxy.shownUrl,
          state: ready ? 'ready' : needsCredentials ? 'needs_credentials' : 'failed',
          reason: ready ? null : proxy.status().last_error,
          tools: proxy.tools.length,
          roles: ROLES.filter((role) => access.get(role)?.allows(server.name)),
          ...(allowed === undefined ? {} : { allowed }),
          injected: allowed === false ? [] : proxy.tools.map((t) => t.name),
          per_user_credentials: server.per_user_credentials,
          note: server.per_user_credentials ? PER_USER_NOTE : null,
        };
      } finally {
        await proxy.close();
      }
    }),
  );
}
