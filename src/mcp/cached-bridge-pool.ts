import type { Logger } from '../observability/logger.ts';
import { inSpan } from '../observability/tracing.ts';
import type { ToolUser } from './access.ts';
import type { McpCredentials } from './credentials.ts';
import { ProxyBridge } from './proxy-bridge.ts';
import { ScopedViews } from './scoped-bridge.ts';
import type { ServerProxyManager } from './server-proxy-manager.ts';
import type { StreamableHTTPServerProxy } from './streamable-http-proxy.ts';
import type { RequestBridge, ToolSource } from './types.ts';

export interface PoolOptions {
  /** Users kept at once; the least recently used is evicted beyond it. Default 1000. */
  maxUsers?: number;
  /** A user's bridge is closed after this long without a request. Default 15 min. */
  idleMs?: number;
  /** How often a user's stored credentials are compared with the ones in use (CLI changes). Default 60 s. */
  recheckMs?: number;
}

interface Entry {
  bridge: Promise<ToolSource>;
  proxies: StreamableHTTPServerProxy[];
  version: string;
  lastUsed: number;
  checkedAt: number;
  evicted: boolean;
}

/**
 * Hands each request the MCP tools of its user: the shared servers plus that user's own
 * connections to per-user servers (built once from their stored headers and cached), seen
 * through the user's access — their role's servers minus the ones denied to them.
 */
export class CachedBridgePool {
  readonly #manager: ServerProxyManager;
  readonly #credentials: McpCredentials | undefined;
  readonly #log: Logger;
  readonly #maxUsers: number;
  readonly #idleMs: number;
  readonly #recheckMs: number;
  /** Map order is recency order: a hit is moved to the end, eviction takes from the front. */
  readonly #entries = new Map<string, Entry>();
  readonly #sweep: NodeJS.Timeout | undefined;
  /** Fixed by the configuration: whether any user needs connections of their own. */
  readonly #perUser: boolean;
  readonly #views: ScopedViews;

  constructor(
    manager: ServerProxyManager,
    credentials: McpCredentials | undefined,
    logger: Logger,
    options: PoolOptions = {},
  ) {
    this.#manager = manager;
    this.#credentials = credentials;
    this.#log = logger;
    this.#maxUsers = Math.max(1, options.maxUsers ?? 1_000);
    this.#idleMs = options.idleMs ?? 15 * 60_000;
    this.#recheckMs = options.recheckMs ?? 60_000;
    this.#perUser = credentials !== undefined && manager.perUserServers.length > 0;
    this.#views = new ScopedViews(manager.servers, manager.cap, manager.sharedBridge());
    if (this.#perUser) {
      this.#sweep = setInterval(() => this.#sweepIdle(), Math.min(this.#idleMs, 60_000));
      this.#sweep.unref();
    }
  }

  /** Users with a cached bridge. */
  get size(): number {
    return this.#entries.size;
  }

  /** The tools for one request of this user. */
  acquire(user: ToolUser): Promise<RequestBridge> {
    return inSpan('CachedBridgePool.Acquire', { user_id: user._id }, async () =>
      this.#views.of(await this.#connections(user._id), user),
    );
  }

  /** The user's MCP connections: the shared ones, plus their own to per-user servers. */
  async #connections(userId: string): Promise<ToolSource> {
    if (!this.#perUser) return this.#manager.sharedBridge();
    const now = Date.now();
    let entry = this.#entries.get(userId);
    if (entry && now - entry.lastUsed > this.#idleMs) {
      this.evict(userId);
      entry = undefined;
    }
    if (entry && now - entry.checkedAt > this.#recheckMs) entry = await this.#recheck(userId, entry, now);
    if (entry?.evicted) entry = undefined;
    entry ??= this.#entries.get(userId); // a concurrent acquire may have created it meanwhile
    if (entry) {
      this.#entries.delete(userId);
    } else {
      entry = this.#create(userId, now);
    }
    this.#entries.set(userId, entry);
    entry.lastUsed = now;
    this.#trim();
    return entry.bridge;
  }

  /** Drops a user's bridge and closes their per-user connections. */
  evict(userId: string): void {
    const entry = this.#entries.get(userId);
    if (!entry) return;
    this.#entries.delete(userId);
    entry.evicted = true;
    this.#closeProxies(entry);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) entry.evicted = true;
    await Promise.all(entries.map((e) => e.bridge.catch(() => undefined)));
    await Promise.all(entries.flatMap((e) => e.proxies.map((p) => p.close())));
  }

  #create(userId: string, now: number): Entry {
    const credentials = this.#credentials as McpCredentials;
    const entry: Entry = {
      bridge: Promise.resolve(this.#manager.sharedBridge()),
      proxies: [],
      version: '',
      lastUsed: now,
      checkedAt: now,
      evicted: false,
    };
    entry.bridge = (async () => {
      const [version, stored] = await Promise.all([
        credentials.version(userId),
        credentials.forUser(userId, (server, err) =>
          this.#log.error({ user_id: userId, mcp_server: server, err: err.message }, 'MCP credential unusable'),
        ),
      ]);
      entry.version = version;
      for (const server of this.#manager.perUserServers) {
        const headers = stored.get(server.name);
        if (headers) entry.proxies.push(this.#manager.createUserProxy(server, headers, userId));
      }
      if (entry.evicted) this.#closeProxies(entry);
      if (entry.proxies.length === 0) return this.#manager.sharedBridge();
      await Promise.all(entry.proxies.map((p) => p.init()));
      return new ProxyBridge([...this.#manager.sharedProxies, ...entry.proxies]);
    })();
    // A failed creation (e.g. database down) is not cached: the next request tries again.
    entry.bridge.catch(() => {
      if (this.#entries.get(userId) === entry) this.#entries.delete(userId);
    });
    return entry;
  }

  /** Rebuilds the entry when the user's stored credentials changed since it was made. */
  async #recheck(userId: string, entry: Entry, now: number): Promise<Entry | undefined> {
    entry.checkedAt = now;
    const version = await (this.#credentials as McpCredentials).version(userId).catch(() => entry.version);
    await entry.bridge.catch(() => {});
    if (version === entry.version) return entry;
    if (this.#entries.get(userId) === entry) this.evict(userId);
    this.#log.info({ user_id: userId }, 'MCP credentials changed; reconnecting');
    return undefined;
  }

  #trim(): void {
    for (const userId of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxUsers) return;
      this.evict(userId);
    }
  }

  #sweepIdle(): void {
    const cutoff = Date.now() - this.#idleMs;
    for (const [userId, entry] of this.#entries) if (entry.lastUsed < cutoff) this.evict(userId);
  }

  #closeProxies(entry: Entry): void {
    for (const proxy of entry.proxies) void proxy.close();
  }
}
