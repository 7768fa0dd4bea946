import { ROLES, type Role } from '../identity/users.ts';
import type { Logger } from '../observability/logger.ts';
import { ServerAccess } from './access.ts';
import { StreamableHTTPServerProxy } from './streamable-http-proxy.ts';
import { leftOut, ToolCap } from './tool-bounds.ts';
import { compareNames } from './tool-names.ts';
import type { LeftOut, McpServerConfig } from './types.ts';

export interface ServerCheck {
  name: string;
  url: string;
  /**
   * `ready`; `failed` (unreachable, or broken: see reason); `needs_credentials`: a per-user
   * server that answered but refused a connection without a user's own headers.
   */
  state: 'ready' | 'failed' | 'needs_credentials';
  reason: string | null;
  /** Tools kept from the server: after the allow/deny regexes and its max_tools_bytes. */
  tools: number;
  /** Roles whose users are given this server's tools. */
  roles: Role[];
  /** With a role: whether that role is given them. */
  allowed?: boolean;
  /**
   * Injected names: after the regexes and every bound, as a user who may use every server is
   * offered them (with a role: as that role is, and none when it is not given the server).
   */
  injected: string[];
  /** Present when tools this server lists are not injected because of a bound: how many, why, which. */
  left_out?: LeftOut;
  per_user_credentials: boolean;
  note: string | null;
}

const PER_USER_NOTE = "per_user_credentials: the bridge connects with each user's own headers; checked without them";

/**
 * Connects to each server exactly as the bridge does (the same proxy: headers, timeouts, every
 * tools/list page, the regexes and bounds, injected names, mcp.max_tools across servers), then
 * disconnects. Per-user servers are tried with the configured headers only.
 */
export async function checkServers(
  servers: readonly McpServerConfig[],
  options: { logger: Logger; role?: Role; connectTimeoutMs?: number; maxTools?: number },
): Promise<ServerCheck[]> {
  const access = new Map(ROLES.map((role) => [role, new ServerAccess(servers, role, [])]));
  const given = (server: McpServerConfig) => (options.role ? access.get(options.role)?.allows(server.name) : undefined);
  const proxies = servers.map(
    (server) =>
      new StreamableHTTPServerProxy(server, { logger: options.logger, connectTimeoutMs: options.connectTimeoutMs }),
  );
  try {
    const ready = await Promise.all(proxies.map((p) => p.init()));
    const offerable = proxies.filter((_, i) => given(servers[i] as McpServerConfig) !== false);
    const offered = new ToolCap(servers, options.maxTools).select(offerable.flatMap((p) => p.tools).sort(compareNames));
    return servers.map((server, i): ServerCheck => {
      const proxy = proxies[i] as StreamableHTTPServerProxy;
      const refused = proxy.refusedWith;
      const needsCredentials = !ready[i] && server.per_user_credentials && (refused === 401 || refused === 403);
      const allowed = given(server);
      const left = leftOut(proxy.bounds, offered.cut.get(server.name));
      return {
        name: server.name,
        url: proxy.shownUrl,
        state: ready[i] ? 'ready' : needsCredentials ? 'needs_credentials' : 'failed',
        reason: ready[i] ? null : proxy.status().last_error,
        tools: proxy.tools.length,
        roles: ROLES.filter((role) => access.get(role)?.allows(server.name)),
        ...(allowed === undefined ? {} : { allowed }),
        injected: offered.tools.filter((t) => t.server === server.name).map((t) => t.name),
        ...(left ? { left_out: left } : {}),
        per_user_credentials: server.per_user_credentials,
        note: server.per_user_credentials ? PER_USER_NOTE : null,
      };
    });
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
}
