import type { Logger } from '../observability/logger.ts';

export interface WebhookOptions {
  /** Waits before each retry (ms); its length is the number of retries. */
  retryDelaysMs?: number[];
  /** Per attempt: connecting, the answer's headers and its body. */
  timeoutMs?: number;
  /** Deliveries under way at once; more are dropped (and logged), so a dead endpoint holds bounded memory. */
  maxPending?: number;
  log: Logger;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', done);
      clearTimeout(timer);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Where a webhook goes, safe to log: its URL may carry a secret in its path or query. */
const shownUrl = (url: string) => URL.parse(url)?.origin ?? 'an invalid URL';

/**
 * JSON POSTs to `budgets.webhook`, each retried with growing waits on a network failure, a
 * timeout, 429 or 5xx (any other answer is final), in the background: a notification never
 * waits for its webhook. Bounded in number under way; `close` stops the retries.
 */
export class WebhookSender {
  readonly #retryDelaysMs: number[];
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: WebhookOptions) {
    this.#retryDelaysMs = options.retryDelaysMs ?? [1_000, 2_000, 4_000, 8_000];
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxPending = options.maxPending ?? 100;
    this.#log = options.log;
  }

  send(url: string, body: unknown): void {
    if (this.#stop.signal.aborted) return;
    if (this.#pending.size >= this.#maxPending) {
      this.#log.warn({ webhook: shownUrl(url) }, 'budget webhook: too many deliveries under way; this one is dropped');
      return;
    }
    const delivery = this.#deliver(url, JSON.stringify(body)).finally(() => this.#pending.delete(delivery));
    this.#pending.add(delivery);
  }

  async #deliver(url: string, text: string): Promise<void> {
    const signal = this.#stop.signal;
    for (let attempt = 0; ; attempt++) {
      let why: string;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'aibridge' },
          body: text,
          redirect: 'error',
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        });
        await response.body?.cancel().catch(() => {});
        if (response.ok) return;
        why = `status ${response.status}`;
        if (response.status !== 429 && response.status < 500) {
          this.#log.warn({ webhook: shownUrl(url), status: response.status }, 'budget webhook refused a notification');
          return;
        }
      } catch (err) {
        if (signal.aborted) return;
        why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      }
      const delay = this.#retryDelaysMs[attempt];
      if (delay === undefined) {
        this.#log.warn(
          { webhook: shownUrl(url), attempts: attempt + 1, reason: why },
          'budget webhook: a notification could not be delivered',
        );
        return;
      }
      await sleep(delay, signal);
      if (signal.aborted) return;
    }
  }

  /** Deliveries under way (tests wait for them). */
  settled(): Promise<void> {
    return Promise.all([...this.#pending]).then(() => {});
  }

  close(): Promise<void> {
    this.#stop.abort();
    return this.settled();
  }
}
