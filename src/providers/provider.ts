import type { IncomingHttpHeaders } from 'node:http';
import { Agent } from 'undici';
import { parseDuration } from '../duration.ts';
import { BreakerSet, type BreakerState } from '../limits/circuit-breaker.ts';
import { type ByokMode, byokOf } from './api-key.ts';
import { forwardedHeaders } from './headers.ts';
import type { KeyPool, KeyPoolListener } from './key-pool.ts';
import type { ProviderConfig, ProviderKind, UpstreamCall, UpstreamCredentials } from './kind.ts';
import { CLIENT_CREDENTIAL_HEADERS, kindOf, type ProviderType } from './registry.ts';

/** What a provider reads of the configuration's `limits:`. */
export interface ProviderLimits {
  upstream_timeout: string;
  breaker_threshold: number;
  breaker_cooldown: string;
}

/** A configured upstream: its kind, where it lives, how to authenticate to it, a pooled keep-alive dispatcher. */
export class Provider {
  readonly name: string;
  readonly kind: ProviderKind;
  readonly type: ProviderType;
  readonly origin: string;
  readonly basePath: string;
  readonly credentials: UpstreamCredentials;
  readonly dispatcher: Agent;
  /** One circuit per model served by this provider. */
  readonly breakers: BreakerSet;
  readonly #config: ProviderConfig;

  /** Users' own keys for it (README "Bring your own key"). */
  readonly byok: ByokMode;
  /** Whether budgets count requests made with a user's own key. */
  readonly byokBudgets: boolean;

  /**
   * `onBreakerTransition` hears each model's circuit change state (the metrics do); `keyPool`
   * hears its key pool's failovers (the metrics and the log).
   */
  constructor(
    config: ProviderConfig,
    limits: ProviderLimits,
    index = 0,
    onBreakerTransition?: (model: string, to: BreakerState) => void,
    keyPool?: KeyPoolListener,
  ) {
    this.name = config.name;
    this.#config = config;
    this.kind = kindOf(config.type);
    this.type = config.type as ProviderType;
    const connection = this.kind.connect(config, `providers[${index}]`);
    this.origin = connection.origin;
    this.basePath = connection.basePath;
    this.credentials = connection.credentials;
    if (keyPool) this.credentials.pool?.listen(keyPool);
    this.byok = this.kind.settings.byok ? byokOf(config) : 'off';
    this.byokBudgets = config.byok_budgets !== false;
    const timeout = parseDuration(limits.upstream_timeout);
    this.breakers = new BreakerSet(
      { threshold: limits.breaker_threshold, cooldownMs: parseDuration(limits.breaker_cooldown) },
      undefined,
      onBreakerTransition,
    );
    this.dispatcher = new Agent({
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: timeout, // long generations may think for minutes before the first byte
      bodyTimeout: timeout,
      pipelining: 1,
    });
  }

  /** False when nothing is configured to authenticate with: its requests are refused instead of sent bare. */
  get hasKey(): boolean {
    return this.credentials.ready;
  }

  /** `api_keys`: the keys its calls take in turn. */
  get pool(): KeyPool | undefined {
    return this.credentials.pool;
  }

  /** Where its credentials are set, for messages: `providers[0].api_key`. */
  get keySetting(): string {
    return this.credentials.setting;
  }

  /** The client's headers for the upstream, without the client's credentials (the provider's are set by `authorize`). */
  upstreamHeaders(client: IncomingHttpHeaders): Record<string, string | string[]> {
    return forwardedHeaders(client, CLIENT_CREDENTIAL_HEADERS);
  }

  /** An upstream path under the base URL's path. */
  upstreamPath(path: string): string {
    return this.basePath + path;
  }

  /** Names to price a model under, most specific first (README "Cost and budgets"): the kind's, or the model itself. */
  priceNames(model: string): string[] {
    return this.kind.priceNames?.(model, this.#config) ?? [model];
  }

  /**
   * Sets the provider's credentials on a call about to be sent (a key, or a signature over it);
   * `key` (a pool's, or a user's own) in place of the configured ones.
   */
  authorize(call: UpstreamCall, key?: string): void | Promise<void> {
    if (key !== undefined && this.credentials.applyKey) return this.credentials.applyKey(call, key);
    return this.credentials.apply(call);
  }

  async close(): Promise<void> {
    await Promise.all([this.dispatcher.close(), this.credentials.close?.()]);
  }
}
