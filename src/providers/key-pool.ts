// A key's states and the reasons it is left are the metrics' labels, so they are named there.
import type { FailoverReason, KeyPoolReports, KeyState } from '../observability/metrics.ts';

export type { FailoverReason, KeyState };

/** What a pool reports as it goes: metrics count it, the log names a key set aside (by its place, never its value). */
export type KeyPoolListener = KeyPoolReports;

/** One key of the pool, as a call takes it. */
export interface PoolKey {
  /** Its place in `api_keys`, for logs and for `tried`. */
  index: number;
  key: string;
}

const SILENT: KeyPoolListener = { failover() {}, exhausted() {}, setAside() {} };

/**
 * The keys of one provider's `api_keys` (README "Key pools"): calls take them in turn; a key the
 * upstream answered 429, 5xx or nothing at all cools down for a while (the upstream's
 * `retry-after` when it gave one), a key it refused (401/403) is set aside until the next reload.
 * Each process keeps its own pool's health: it learns from its own calls.
 */
export class KeyPool {
  readonly #keys: readonly string[];
  /** Epoch ms until which each key is cooling; 0 when it is not. */
  readonly #coolUntil: number[];
  readonly #refused: boolean[];
  readonly #now: () => number;
  #listener: KeyPoolListener = SILENT;
  #next = 0;

  constructor(keys: readonly string[], now: () => number = Date.now) {
    this.#keys = keys;
    this.#coolUntil = keys.map(() => 0);
    this.#refused = keys.map(() => false);
    this.#now = now;
  }

  get size(): number {
    return this.#keys.length;
  }

  listen(listener: KeyPoolListener): void {
    this.#listener = listener;
  }

  /** The next key in turn that is neither cooling, set aside, nor in `tried`; undefined when none is left. */
  take(tried: ReadonlySet<number> = new Set()): PoolKey | undefined {
    const now = this.#now();
    const n = this.#keys.length;
    for (let step = 0; step < n; step++) {
      const index = (this.#next + step) % n;
      if (tried.has(index) || this.#refused[index] || (this.#coolUntil[index] as number) > now) continue;
      this.#next = (index + 1) % n;
      return { index, key: this.#keys[index] as string };
    }
    return undefined;
  }

  /** A key the upstream answered 429 or 5xx (or never answered): out of turn for `ms`. */
  cool(index: number, reason: Exclude<FailoverReason, 'refused'>, ms: number): void {
    this.#coolUntil[index] = Math.max(this.#coolUntil[index] as number, this.#now() + ms);
    this.#listener.failover(reason);
  }

  /** A key the upstream refused (401/403): out of turn until a reload; reported once. */
  refuse(index: number, status: number): void {
    if (!this.#refused[index]) {
      this.#refused[index] = true;
      this.#listener.setAside(index, status);
    }
    this.#listener.failover('refused');
  }

  /** Every key was tried or is out of turn: counted once per refused call. */
  exhausted(): void {
    this.#listener.exhausted();
  }

  /** A reload: the keys set aside are given another chance (their cooling stands). */
  restore(): void {
    this.#refused.fill(false);
  }

  /** Milliseconds until the first cooling key is back; undefined when none is (they are all set aside). */
  wait(): number | undefined {
    const now = this.#now();
    let soonest: number | undefined;
    this.#keys.forEach((_, i) => {
      const until = this.#coolUntil[i] as number;
      if (!this.#refused[i] && until > now) soonest = Math.min(soonest ?? until, until);
    });
    return soonest === undefined ? undefined : soonest - now;
  }

  /** How many keys are in each state now (`aibridge_key_pool_keys`). */
  counts(): Record<KeyState, number> {
    const now = this.#now();
    const counts: Record<KeyState, number> = { active: 0, cooling: 0, refused: 0 };
    this.#keys.forEach((_, i) => {
      const state = this.#refused[i] ? 'refused' : (this.#coolUntil[i] as number) > now ? 'cooling' : 'active';
      counts[state]++;
    });
    return counts;
  }
}

/** Longest cool-down a `retry-after` may ask for: beyond it the key is tried again anyway. */
const MAX_COOL_MS = 3_600_000;
/** How long a key cools when the upstream did not say (README "Key pools"). */
export const DEFAULT_COOL_MS: Record<Exclude<FailoverReason, 'refused'>, number> = {
  rate_limited: 10_000,
  server_error: 5_000,
  timeout: 30_000,
};

/**
 * The wait an answer asks for, in ms: `retry-after-ms` (OpenAI, Azure), else `retry-after` in
 * seconds or as an HTTP date; undefined when it names none (or nonsense).
 */
export function retryAfterMs(
  headers: Record<string, string | string[] | undefined>,
  now = Date.now(),
): number | undefined {
  const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)?.trim();
  const ms = Number(first(headers['retry-after-ms']));
  if (first(headers['retry-after-ms']) && Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_COOL_MS);
  const value = first(headers['retry-after']);
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.min(Number(value) * 1000, MAX_COOL_MS);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_COOL_MS);
}

/** Whether an upstream answer moves the call to the next key, and why. */
export function failoverReason(status: number): FailoverReason | undefined {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'refused';
  if (status >= 500) return 'server_error';
  return undefined;
}
