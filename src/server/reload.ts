import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/config.ts';
import { type ConfigChanges, diffConfig } from '../config/diff.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { type FileWatch, watchConfigFile } from '../config/watch.ts';
import { OidcClient } from '../identity/oidc/client.ts';
import { ConcurrencyLimit, UserRateLimit } from '../limits/admission.ts';
import type { Logger } from '../observability/logger.ts';
import { PriceBook } from '../pricing/price-book.ts';
import { proxyPolicyOf } from '../proxy/config.ts';
import type { AppContext } from './context.ts';
import { buildProvider } from './providers.ts';
import type { Runtime } from './runtime.ts';
import { connectMcp } from './services/mcp.ts';

export type ReloadResult = { result: 'ok'; changes: ConfigChanges } | { result: 'refused'; problems: string[] };

/** The limits a Provider's dispatcher and circuit breakers are built with. */
const PROVIDER_LIMITS = ['upstream_timeout', 'breaker_threshold', 'breaker_cooldown'] as const;

/**
 * The runtime for `next`. Every piece whose settings did not change is the running one (its
 * connections, circuit state and rate buckets carry over); the rest is built new, the MCP
 * side first because it is the part that can fail (a missing credentials key).
 */
async function buildRuntime(ctx: AppContext, next: Config, changes: ConfigChanges): Promise<Runtime> {
  const running = ctx.config;
  const mcp =
    changes.sections.includes('mcp_servers') || changes.sections.includes('mcp') || !ctx.mcp
      ? await connectMcp(ctx, next, ctx.mcp?.manager)
      : ctx.mcp;
  const sameLimits = PROVIDER_LIMITS.every((key) => running.limits[key] === next.limits[key]);
  const providers = next.providers.map((entry, i) => {
    const current = ctx.providers.find((p) => p.name === entry.name);
    const before = running.providers.find((p) => p.name === entry.name);
    if (current && sameLimits && isDeepStrictEqual(before, entry)) return current;
    return buildProvider(entry, next.limits, i, ctx.metrics, ctx.logger);
  });
  if (providers.some((p) => p.byok !== 'off')) ctx.userKeys.ensureSealingKey(); // refuses the reload without one
  const { max_concurrent_interceptions: maxConcurrent, user_requests_per_minute: perMinute } = next.limits;
  return {
    config: next,
    prices: changes.sections.includes('pricing') ? PriceBook.fromConfig(next.pricing) : ctx.prices,
    providers,
    limits: {
      concurrency:
        maxConcurrent === running.limits.max_concurrent_interceptions
          ? ctx.limits.concurrency
          : new ConcurrencyLimit(maxConcurrent, ctx.worker?.count, ctx.limits.concurrency),
      userRate:
        perMinute === running.limits.user_requests_per_minute
          ? ctx.limits.userRate
          : new UserRateLimit(perMinute, ctx.quotas),
    },
    mcp,
    // A new client (a new provider, secret or mapping) discovers the provider again on first use.
    oidc: isDeepStrictEqual(running.auth.oidc, next.auth.oidc) ? ctx.oidc : oidcClientFor(next, ctx.logger),
  };
}

/** The single sign-on client of a configuration, or undefined without `auth.oidc`. */
export function oidcClientFor(config: Config, logger: Logger): OidcClient | undefined {
  const settings = config.auth.oidc;
  return settings ? new OidcClient(settings, { log: logger.child({ component: 'sso' }) }) : undefined;
}

/**
 * Re-reads the configuration file (SIGHUP, or a change of it with `watch_config: true`) and
 * swaps the new runtime onto the context for new requests; requests in flight finish on theirs.
 * An invalid file is refused and the running configuration kept. One reload runs at a time.
 */
export class ConfigReloader {
  readonly #ctx: AppContext;
  readonly #file: string | undefined;
  readonly #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();
  #watch: FileWatch | undefined;
  #closed = false;

  /** `file` is the one the server started from; none means the built-in defaults (and nothing to watch). */
  constructor(ctx: AppContext, file: string | undefined) {
    this.#ctx = ctx;
    this.#file = file;
    this.#log = ctx.logger.child({ component: 'config' });
    for (const result of ['ok', 'refused']) ctx.metrics.configReloads.labels(result).inc(0);
    this.#syncWatch();
  }

  /** Never rejects: a signal handler calls it, and a failure must refuse the reload, not end the process. */
  reload(trigger: string): Promise<ReloadResult> {
    const run = this.#queue
      .then(() => this.#reload(trigger))
      .catch((err: Error) => this.#refuse(trigger, [err.message]));
    this.#queue = run;
    return run;
  }

  /** Stops watching and waits for a reload under way, so nothing is swapped in after shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatching();
    await this.#queue;
  }

  #stopWatching(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  async #reload(trigger: string): Promise<ReloadResult> {
    if (this.#closed) return { result: 'refused', problems: ['the server is shutting down'] };
    let next: Config;
    try {
      next = loadConfig(this.#file);
    } catch (err) {
      return this.#refuse(trigger, err instanceof ConfigError ? err.problems : [(err as Error).message]);
    }
    const { effective, changes } = diffConfig(this.#ctx.config, next);
    if (changes.needRestart.length) {
      this.#log.warn(
        { trigger, settings: changes.needRestart },
        'configuration change needs a restart; the running values are kept until then',
      );
    }
    // A failure to build (e.g. no credentials key for a new per-user server) refuses the reload.
    if (changes.sections.length) this.#ctx.runtimes.swap(await buildRuntime(this.#ctx, effective, changes));
    if (changes.sections.includes('proxy') && effective.proxy) this.#ctx.proxy?.update(proxyPolicyOf(effective.proxy));
    // A pool key the upstream refused gets another chance at every reload, even of an unchanged file.
    for (const provider of this.#ctx.providers) provider.pool?.restore();
    this.#ctx.metrics.configReloads.labels('ok').inc();
    const { added, removed, changed } = changes.servers;
    this.#log.info(
      { trigger, sections: changes.sections, mcp_servers: { added, removed, changed } },
      changes.sections.length ? 'configuration reloaded' : 'configuration reloaded; nothing changed',
    );
    this.#syncWatch();
    return { result: 'ok', changes };
  }

  #refuse(trigger: string, problems: string[]): ReloadResult {
    this.#ctx.metrics.configReloads.labels('refused').inc();
    this.#log.error({ trigger, file: this.#file, problems }, 'configuration refused; the running one is kept');
    return { result: 'refused', problems };
  }

  /** Watches while the configuration in effect asks for it. */
  #syncWatch(): void {
    const wanted = this.#ctx.config.watch_config && this.#file !== undefined && !this.#closed;
    if (wanted && !this.#watch) {
      this.#watch = watchConfigFile(this.#file as string, () => void this.reload('file change'));
    } else if (!wanted) {
      this.#stopWatching();
    }
  }
}
