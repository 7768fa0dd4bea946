import type { Config } from '../config/config.ts';
import type { OidcClient } from '../identity/oidc/client.ts';
import type { ConcurrencyLimit, UserRateLimit } from '../limits/admission.ts';
import type { CachedBridgePool } from '../mcp/cached-bridge-pool.ts';
import type { ServerProxyManager } from '../mcp/server-proxy-manager.ts';
import type { Logger } from '../observability/logger.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import type { Provider } from '../providers/provider.ts';

/**
 * The parts of the context (context.ts, whose AppContext extends this) a reload replaces. A
 * request uses one runtime from its start to its end.
 */
export interface Runtime {
  config: Config;
  /** Single sign-on (`auth.oidc`): the client now in effect, rebuilt by a reload that changes it. */
  oidc?: OidcClient;
  /** USD per token for every model the bridge knows a price of. */
  prices: PriceBook;
  /** Configured upstreams, each with its pooled dispatcher. */
  providers: Provider[];
  /** Admission limits on provider routes. */
  limits: { concurrency: ConcurrencyLimit; userRate: UserRateLimit };
  /** MCP servers and per-user tool bridges; set by mcpService at start-up. */
  mcp?: { manager: ServerProxyManager; pool: CachedBridgePool };
}

/** What Runtimes swaps the runtime of, and logs to: the AppContext. */
type Context = Runtime & { logger: Logger };

interface Closable {
  close(): Promise<void>;
}

const runtimeOf = (ctx: Runtime): Runtime => ({
  config: ctx.config,
  prices: ctx.prices,
  providers: ctx.providers,
  limits: ctx.limits,
  mcp: ctx.mcp,
  oidc: ctx.oidc,
});

/** The connections a runtime holds open: upstream dispatchers, MCP sessions, per-user bridges. */
function resourcesOf(runtime: Runtime): Closable[] {
  const mcp = runtime.mcp ? [runtime.mcp.pool, ...runtime.mcp.manager.sharedProxies] : [];
  return [...runtime.providers, ...mcp];
}

class Generation {
  holders = 0;
  /** Set when a newer runtime replaces this one. */
  retired: Runtime | undefined;
}

/**
 * The runtime new requests get, and the retired ones earlier requests still hold. A swap is one
 * synchronous assignment of the context's fields, so no request sees half of a reload. A retired
 * runtime's connections are closed when its last request ends, except those a runtime still in
 * use shares (an unchanged provider or MCP server is carried over, not reopened).
 */
export class Runtimes {
  readonly #context: () => Context;
  #current = new Generation();
  readonly #retired = new Set<Generation>();

  /** Takes the context lazily: it is built with its Runtimes in it. */
  constructor(context: () => Context) {
    this.#context = context;
  }

  get #ctx(): Context {
    return this.#context();
  }

  /** Pins the current runtime for one request; call release() once when the request is done. */
  hold(): { runtime: Runtime; release(): void } {
    const generation = this.#current;
    generation.holders++;
    let released = false;
    return {
      runtime: runtimeOf(this.#ctx),
      release: () => {
        if (released) return;
        released = true;
        if (--generation.holders === 0 && generation.retired) this.#dispose(generation);
      },
    };
  }

  /** Makes `next` the runtime of every request that starts from now on. */
  swap(next: Runtime): void {
    const old = this.#current;
    old.retired = runtimeOf(this.#ctx);
    this.#retired.add(old);
    this.#current = new Generation();
    Object.assign(this.#ctx, next);
    if (old.holders === 0) this.#dispose(old);
  }

  /** Shutdown: closes what only retired runtimes hold, without waiting for their requests. */
  async closeRetired(): Promise<void> {
    await Promise.all([...this.#retired].map((g) => this.#dispose(g)));
  }

  async #dispose(generation: Generation): Promise<void> {
    if (!this.#retired.delete(generation)) return;
    const inUse = new Set([this.#ctx, ...[...this.#retired].map((g) => g.retired as Runtime)].flatMap(resourcesOf));
    const unused = resourcesOf(generation.retired as Runtime).filter((r) => !inUse.has(r));
    await Promise.all(
      unused.map((r) =>
        r.close().catch((err) => this.#ctx.logger.warn({ err }, 'closing a retired connection failed')),
      ),
    );
  }
}

/**
 * Runs one provider request on the runtime current at its start: its config, prices, limits,
 * provider (key, base URL, dispatcher) and MCP tools stay the same even if a reload happens
 * while it runs, and stay open until it returns.
 */
export async function pinned<C extends Runtime & { runtimes: Runtimes }, T>(
  ctx: C,
  providerName: string,
  run: (ctx: C, provider: Provider) => Promise<T>,
): Promise<T> {
  const held = ctx.runtimes.hold();
  try {
    const snapshot: C = { ...ctx, ...held.runtime };
    // The set of provider names is fixed until a restart (config/diff.ts), so it is always there.
    const provider = snapshot.providers.find((p) => p.name === providerName) as Provider;
    return await run(snapshot, provider);
  } finally {
    held.release();
  }
}
