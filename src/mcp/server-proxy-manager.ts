import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../observability/logger.ts';
import { inSpan } from '../observability/tracing.ts';
import { ProxyBridge } from './proxy-bridge.ts';
import { shownUrl } from './shown-url.ts';
import { StreamableHTTPServerProxy } from './streamable-http-proxy.ts';
import { leftOut, type Selection, ToolCap } from './tool-bounds.ts';
import type { InjectedTool, McpServerConfig, McpServerStatus, ToolSource } from './types.ts';

export interface ManagerOptions {
  /** Bound on each connect attempt, and so on init(). Default 10 s. */
  connectTimeoutMs?: number;
  /** Background reconnect backoff. Defaults 1 s doubling to 30 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** `mcp.max_tools`: injected tools per request, all servers together. Default 128. */
  maxTools?: number;
  /**
   * Proxies of a running manager (a reload): one whose entry is unchanged is kept, connected,
   * instead of reconnecting; its previous owner must not close it while this manager uses it.
   */
  adopt?: readonly StreamableHTTPServerProxy[];
}

/**
 * Owns every MCP proxy: one shared proxy per static server, and per-user proxies made for
 * the pool (tracked here so /readyz can report them).
 */
export class ServerProxyManager {
  readonly servers: readonly McpServerConfig[];
  /** Servers whose tools need each user's own headers. */
  readonly perUserServers: readonly McpServerConfig[];
  /** Which tools a request is offered when all servers together list more than `mcp.max_tools`. */
  readonly cap: ToolCap;
  readonly #log: Logger;
  /** What each proxy it makes is given; not `adopt`, which would keep the previous manager's proxies alive. */
  readonly #proxyOptions: Pick<ManagerOptions, 'connectTimeoutMs' | 'retryInitialMs' | 'retryMaxMs'>;
  readonly #shared: StreamableHTTPServerProxy[];
  /** The shared proxies this manager made (not adopted): the ones init() connects. */
  readonly #created: StreamableHTTPServerProxy[] = [];
  readonly #perUser = new Map<string, Set<StreamableHTTPServerProxy>>();
  readonly #bridge: ProxyBridge;
  /** The last selection made for status(), by the list it was made from: a scrape does not redo it. */
  #lastOffered: { from: readonly InjectedTool[]; selection: Selection } | undefined;

  constructor(servers: readonly McpServerConfig[], logger: Logger, options: ManagerOptions = {}) {
    this.servers = servers;
    this.perUserServers = servers.filter((s) => s.per_user_credentials);
    this.#log = logger;
    const { connectTimeoutMs, retryInitialMs, retryMaxMs } = options;
    this.#proxyOptions = { connectTimeoutMs, retryInitialMs, retryMaxMs };
    this.cap = new ToolCap(servers, options.maxTools, logger);
    this.#shared = servers
      .filter((s) => !s.per_user_credentials)
      .map((s) => {
        const kept = options.adopt?.find((p) => p.state !== 'closed' && isDeepStrictEqual(p.config, s));
        if (kept) return kept;
        const proxy = this.#proxy(s, {});
        this.#created.push(proxy);
        return proxy;
      });
    for (const s of this.perUserServers) this.#perUser.set(s.name, new Set());
    this.#bridge = new ProxyBridge(this.#shared);
  }

  get sharedProxies(): readonly StreamableHTTPServerProxy[] {
    return this.#shared;
  }

  /** Connects every shared server it made concurrently; returns within the connect timeout even if some are down. */
  init(): Promise<void> {
    return inSpan('ServerProxyManager.Init', { mcp_servers: this.#created.length }, async () => {
      const ready = await Promise.all(this.#created.map((p) => p.init()));
      const down = this.#created.filter((_, i) => !ready[i]).map((p) => p.name);
      if (down.length)
        this.#log.warn({ servers: down }, 'MCP servers unavailable on connect; retrying in the background');
      this.#offered(); // says now, not at the first request, what mcp.max_tools leaves out
    });
  }

  /** Tools of the shared servers, merged and sorted by name. */
  tools(): readonly InjectedTool[] {
    return this.#bridge.tools;
  }

  /** One bridge over the shared servers, good for every user who has no per-user servers. */
  sharedBridge(): ToolSource {
    return this.#bridge;
  }

  /** A new (not yet initialised) proxy for one user's connection to a per-user server. */
  createUserProxy(server: McpServerConfig, headers: Record<string, string>, userId: string): StreamableHTTPServerProxy {
    const live = this.#perUser.get(server.name);
    if (!live) throw new Error(`MCP server "${server.name}" is not a per_user_credentials server`);
    const proxy = this.#proxy(server, { headers, userId, onClose: () => live.delete(proxy) });
    live.add(proxy);
    return proxy;
  }

  /**
   * Per server: state, injected tools and what was left out. The `mcp.max_tools` cut shown is the
   * one a user who may use every server gets from the shared servers.
   */
  status(): Record<string, McpServerStatus> {
    const out: Record<string, McpServerStatus> = {};
    const offered = this.#offered();
    for (const p of this.#shared) {
      const status = p.status();
      const capped = offered.cut.get(p.name) ?? [];
      const left = status.state === 'closed' ? undefined : leftOut(p.bounds, capped);
      const { left_out: _, ...rest } = status;
      out[p.name] = { ...rest, tools: Math.max(0, status.tools - capped.length), ...(left ? { left_out: left } : {}) };
    }
    for (const s of this.perUserServers) out[s.name] = perUserStatus(s, [...(this.#perUser.get(s.name) ?? [])]);
    return out;
  }

  async close(): Promise<void> {
    const all = [...this.#shared, ...[...this.#perUser.values()].flatMap((set) => [...set])];
    await Promise.all(all.map((p) => p.close()));
  }

  /** The shared servers' tools as a user who may use every server is offered them (logged when the cut changes). */
  #offered(): Selection {
    const tools = this.#bridge.tools;
    if (this.#lastOffered?.from !== tools) {
      this.#lastOffered = { from: tools, selection: this.cap.select(tools) };
      this.cap.note(this.#lastOffered.selection);
    }
    return this.#lastOffered.selection;
  }

  #proxy(
    server: McpServerConfig,
    extra: { headers?: Record<string, string>; userId?: string; onClose?: () => void },
  ): StreamableHTTPServerProxy {
    return new StreamableHTTPServerProxy(server, { logger: this.#log, ...this.#proxyOptions, ...extra });
  }
}

/**
 * A per-user server's state is the best of its users' connections; "closed" when nobody is
 * connected. What its own bounds left out is that connection's (mcp.max_tools cuts per user).
 */
function perUserStatus(server: McpServerConfig, proxies: StreamableHTTPServerProxy[]): McpServerStatus {
  const order: McpServerStatus['state'][] = ['ready', 'connecting', 'failed'];
  const state = order.find((s) => proxies.some((p) => p.state === s)) ?? 'closed';
  const best = proxies.find((p) => p.state === state);
  const failed = proxies.find((p) => p.state === 'failed');
  const left = state === 'closed' ? undefined : leftOut(best?.bounds);
  return {
    state,
    url: shownUrl(server.url),
    tools: best?.tools.length ?? 0,
    last_error: failed?.status().last_error ?? null,
    ...(left ? { left_out: left } : {}),
    per_user: true,
    users: proxies.length,
  };
}
