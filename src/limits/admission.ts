import type { Quotas } from './quota.ts';

/**
 * Caps interceptions running at once (0 = no cap). Under `--workers N` each worker takes its
 * share of the configured cap (rounded up), so together they stay at about the configured one.
 */
export class ConcurrencyLimit {
  readonly max: number;
  /** Shared with the limit this one replaces on a reload: requests still running count against it. */
  readonly #running: { count: number };
  constructor(configured: number, workers = 1, replacing?: ConcurrencyLimit) {
    this.max = configured && Math.ceil(configured / workers);
    this.#running = replacing ? replacing.#running : { count: 0 };
  }
  get active(): number {
    return this.#running.count;
  }
  tryAcquire(): boolean {
    if (this.max && this.#running.count >= this.max) return false;
    this.#running.count++;
    return true;
  }
  release(): void {
    this.#running.count--;
  }
}

const MINUTE = 60_000;

/**
 * Per-user requests per minute (0 = unlimited), counted across every worker and replica: each
 * calendar minute is a quota shared through the store (limits/quota.ts), so N processes never
 * admit N times the limit; a token bucket per process spreads a minute's requests (bursts up to
 * the limit) so a client is not starved at the start of the next minute after a burst.
 */
export class UserRateLimit {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #quotas: Quotas | undefined;

  constructor(perMinute: number, quotas?: Quotas) {
    this.#perMinute = perMinute;
    this.#quotas = quotas;
  }

  /** 0 when allowed, else seconds until the next request would be. */
  async take(userId: string, now = Date.now()): Promise<number> {
    if (!this.#perMinute) return 0;
    const rate = this.#perMinute / 60_000;
    const bucket = this.#buckets.get(userId) ?? { tokens: this.#perMinute, at: now };
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    this.#buckets.delete(userId); // re-insert: the Map stays ordered by last use
    this.#buckets.set(userId, bucket);
    if (this.#buckets.size > 100_000) this.#buckets.delete(this.#buckets.keys().next().value as string);
    if (bucket.tokens < 1) return Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
    if (this.#quotas) {
      const minute = Math.floor(now / MINUTE);
      // A tenth of the limit at a time: most requests take from this process's allowance.
      const chunk = Math.max(1, Math.floor(this.#perMinute / 10));
      const got = await this.#quotas.reserve(`rate:${userId}:${minute}`, this.#perMinute, 1, 0, chunk);
      if (!got.ok) return Math.max(1, Math.ceil(((minute + 1) * MINUTE - now) / 1000)); // the processes' minute is spent
      got.ticket.settle(1);
    }
    bucket.tokens -= 1;
    return 0;
  }
}
