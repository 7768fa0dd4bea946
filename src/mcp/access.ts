import type { Role } from '../identity/users.ts';
import { INJECTED_PREFIX } from './tool-names.ts';
import type { McpServerConfig } from './types.ts';

/** Who a request's tools are for: the principal's user as the pool needs it. */
export interface ToolUser {
  _id: string;
  role: Role;
  denied_servers?: readonly string[];
}

/**
 * Which configured MCP servers one role with one deny list may use. Server names cannot
 * contain `_`, so the server of any `bmcp_<server>_<tool>` name (shortened or not) is the
 * text up to the next `_`.
 */
export class ServerAccess {
  /** Equal for every user who must see exactly the same tools. */
  readonly key: string;
  /** True when every configured server is allowed, so a tool list needs no filtering. */
  readonly allowsAll: boolean;
  readonly #servers: ReadonlyMap<string, McpServerConfig>;
  readonly #refusals = new Map<string, string>();

  constructor(servers: readonly McpServerConfig[], role: Role, denied: readonly string[]) {
    this.#servers = new Map(servers.map((s) => [s.name, s]));
    const deniedSet = new Set(denied);
    for (const server of servers) {
      if (server.allowed_roles && !server.allowed_roles.includes(role)) {
        this.#refusals.set(server.name, `MCP server "${server.name}" is not allowed for role ${role}`);
      } else if (deniedSet.has(server.name)) {
        this.#refusals.set(server.name, `MCP server "${server.name}" is denied to this user`);
      }
    }
    this.allowsAll = this.#refusals.size === 0;
    this.key = ServerAccess.keyOf(servers, role, denied);
  }

  /** The cache key of (role, deny list): denied names that are not configured do not matter. */
  static keyOf(servers: readonly McpServerConfig[], role: Role, denied: readonly string[] = []): string {
    const relevant = [...new Set(denied)].filter((name) => servers.some((s) => s.name === name)).sort();
    return [role, ...relevant].join('\0');
  }

  allows(server: string): boolean {
    return !this.#refusals.has(server);
  }

  /** Why this access may not use the server; null when it may. */
  refusal(server: string): string | null {
    return this.#refusals.get(server) ?? null;
  }

  /** The configured server an injected-style name belongs to, if any. */
  serverOf(name: string): McpServerConfig | undefined {
    if (!name.startsWith(INJECTED_PREFIX)) return undefined;
    const end = name.indexOf('_', INJECTED_PREFIX.length);
    return end < 0 ? undefined : this.#servers.get(name.slice(INJECTED_PREFIX.length, end));
  }
}
