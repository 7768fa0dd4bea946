import type { Logger } from '../observability/logger.ts';
import type { RateStore } from '../store/store.ts';

/**
 * Caps interceptions running at once (0 = no cap). Under `--workers N` each worker takes its
 * share of the configured cap (rounded up), so together they stay at about the configured one.
 */
export class ConcurrencyLimit {
  readonly max: number;
  active = 0;
  constructor(configured: number, workers = 1) {
    this.max = configured && Math.ceil(configured / workers);
  }
  tryAcquire(): boolean {
    if (this.max && this.active >= this.max) return false;
    this.active++;
    return true;
  }
  release(): void {
    this.active--;
  }
}

const MINUTE = 60_000;

/**
 * Shares this replica's per-user request counts of the current minute with the other replicas
 * through the store, and reads theirs, once a second — off the request path. A rate limit is
 * then one limit across N replicas, give or take what the others admitted in the last second.
 */
export class RateSharing {
  readonly #store: RateStore;
  readonly #holder: string;
  readonly #log: Logger | undefined;
  #window = 0;
  #local = new Map<string, number>();
  #others: Record<string, number> = {};
  #wantedAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: RateStore, holder: string, log?: Logger) {
    this.#store = store;
    this.#holder = holder;
    this.#log = log;
  }

  start(intervalMs = 1_000): void {
    this.#timer = setInterval(() => void this.sync(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #roll(now: number): void {
    const window = Math.floor(now / MINUTE);
    if (window === this.#window) return;
    this.#window = window;
    this.#local = new Map();
    this.#others = {};
  }

  /** Requests this user made in the current minute: here and, as last seen, on the other replicas. */
  used(userId: string, now = Date.now()): number {
    this.#roll(now);
    this.#wantedAt = now;
    return (this.#local.get(userId) ?? 0) + (this.#others[userId] ?? 0);
  }

  note(userId: string, now = Date.now()): void {
    this.#roll(now);
    this.#local.set(userId, (this.#local.get(userId) ?? 0) + 1);
  }

  /** Publishes this replica's counts and reads the others'; a store outage only makes the limit local. */
  async sync(now = Date.now()): Promise<void> {
    this.#roll(now);
    if (now - this.#wantedAt > MINUTE) return; // no rate limit in use: nothing to share
    const window = this.#window;
    try {
      if (this.#local.size) await this.#store.publish(this.#holder, window, Object.fromEntries(this.#local));
      const others = await this.#store.others(this.#holder, window);
      if (window === this.#window) this.#others = others;
      if (now % (10 * MINUTE) < 1_000) await this.#store.prune(window - 2);
    } catch (err) {
      this.#log?.debug({ err: (err as Error).message }, 'rate counts not shared this second');
    }
  }
}

/**
 * Per-user token bucket: `perMinute` requests a minute with bursts up to the same
 * number (0 = unlimited). Buckets of idle users are forgotten to bound memory. With a
 * RateSharing, the user's requests on every replica in the current minute count too.
 */
export class UserRateLimit {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #sharing: RateSharing | undefined;

  constructor(perMinute: number, sharing?: RateSharing) {
    this.#perMinute = perMinute;
    this.#sharing = sharing;
  }

  /** 0 when allowed, else seconds until the next request would be. */
  take(userId: string, now = Date.now()): number {
    if (!this.#perMinute) return 0;
    const rate = this.#perMinute / 60_000;
    const bucket = this.#buckets.get(userId) ?? { tokens: this.#perMinute, at: now };
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    this.#buckets.delete(userId); // re-insert: the Map stays ordered by last use
    this.#buckets.set(userId, bucket);
    if (this.#buckets.size > 100_000) this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (bucket.tokens < 1) return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
    if (this.#sharing && this.#sharing.used(userId, now) >= this.#perMinute) {
      return Math.max(1, Math.ceil((MINUTE - (now % MINUTE)) / 1000)); // the replicas' minute is spent
    }
    bucket.tokens -= 1;
    this.#sharing?.note(userId, now);
    return 0;
  }
}
