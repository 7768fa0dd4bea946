/**
 * When to restart a worker that died: at once the first time, then backing off (doubling up to
 * `maxMs`) while it keeps dying young; a worker that ran `healthyMs` starts the count over.
 */
export class RestartBackoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #healthyMs: number;
  #failures = 0;

  constructor(options: { baseMs?: number; maxMs?: number; healthyMs?: number } = {}) {
    this.#baseMs = options.baseMs ?? 250;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#healthyMs = options.healthyMs ?? 30_000;
  }

  /** The delay before restarting a worker that ran for `uptimeMs`. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.#healthyMs) this.#failures = 0;
    const delay = this.#failures === 0 ? 0 : Math.min(this.#maxMs, this.#baseMs * 2 ** (this.#failures - 1));
    this.#failures++;
    return delay;
  }
}
