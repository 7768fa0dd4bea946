// Its states are the metrics' labels, named there.
import type { BreakerState } from '../observability/metrics.ts';

export type { BreakerState };

export interface BreakerOptions {
  /** Consecutive failures that open the circuit; 0 = never. */
  threshold: number;
  /** How long it stays open before one probe is let through. */
  cooldownMs: number;
  /** Told of every change of state (for metrics). */
  onTransition?: (to: BreakerState) => void;
}

/** A call refused because its circuit is open: 503 with Retry-After, told apart from other failures in metrics and spans. */
/**
 * Per provider and model: after `threshold` consecutive upstream failures (5xx, 529,
 * timeouts) requests are refused at once for `cooldownMs`; then one probe decides.
 */
export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #failures = 0;
  #openedAt = 0;
  #probing = false;
  #state: BreakerState = 'closed';
  trips = 0;

  constructor(options: BreakerOptions) {
    this.#options = options;
  }

  get state(): BreakerState {
    return this.#state;
  }

  #to(to: BreakerState): void {
    if (to === this.#state) return;
    this.#state = to;
    this.#options.onTransition?.(to);
  }

  /** Whether a call may go ahead; in half-open state only one at a time. */
  allow(now = Date.now()): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (now - this.#openedAt < this.#options.cooldownMs) return false;
      this.#to('half_open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** Seconds until a probe will be allowed. */
  retryAfterSeconds(now = Date.now()): number {
    return Math.max(1, Math.ceil((this.#options.cooldownMs - (now - this.#openedAt)) / 1000));
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    this.#to('closed');
  }

  /** A call that says nothing about the upstream (the client left, we refused to send): frees the probe slot only. */
  release(): void {
    this.#probing = false;
  }

  /** Closed with no failures counted: nothing to remember. */
  get idle(): boolean {
    return this.state === 'closed' && this.#failures === 0;
  }

  failure(now = Date.now()): void {
    this.#probing = false;
    this.#failures++;
    const { threshold } = this.#options;
    if (this.state === 'half_open' || (threshold > 0 && this.#failures >= threshold)) {
      if (this.state !== 'open') this.trips++;
      this.#to('open');
      this.#openedAt = now;
    }
  }
}

/**
 * One breaker per key (provider/model), created on first use. Keys are client-chosen model
 * names, so past `maxKeys` the idle breakers (closed, nothing counted) are forgotten.
 */
export class BreakerSet {
  readonly #options: BreakerOptions;
  readonly #maxKeys: number;
  readonly #onTransition: ((key: string, to: BreakerState) => void) | undefined;
  readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    options: Omit<BreakerOptions, 'onTransition'>,
    maxKeys = 1_000,
    onTransition?: (key: string, to: BreakerState) => void,
  ) {
    this.#options = options;
    this.#maxKeys = maxKeys;
    this.#onTransition = onTransition;
  }

  for(key: string): CircuitBreaker {
    let breaker = this.breakers.get(key);
    if (!breaker) {
      if (this.breakers.size >= this.#maxKeys) {
        for (const [k, b] of this.breakers) if (b.idle) this.breakers.delete(k);
      }
      const onTransition = this.#onTransition;
      breaker = new CircuitBreaker(
        onTransition ? { ...this.#options, onTransition: (to) => onTransition(key, to) } : this.#options,
      );
      this.breakers.set(key, breaker);
    }
    return breaker;
  }
}
