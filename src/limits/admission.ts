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

/**
 * Per-user token bucket: `perMinute` requests a minute with bursts up to the same
 * number (0 = unlimited). Buckets of idle users are forgotten to bound memory.
 */
export class UserRateLimit {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
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
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
  }
}
