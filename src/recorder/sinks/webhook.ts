import { Agent } from 'undici';
import { BatchTooLarge, type OutgoingEvent, type SinkTransport } from './transport.ts';

export interface WebhookSinkOptions {
  url: string;
  /** Sent with every request (an Authorization header, say): never logged. */
  headers: Record<string, string>;
  /** Longest wait for the connection, the response headers, and between response body bytes; three times it for a whole delivery. */
  timeoutMs: number;
}

/** A receiver's answer is read and dropped up to this size; the connection is closed past it. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What an answer says, without the URL (it may carry a secret in its query). */
class WebhookRefused extends Error {}

/**
 * Batches as one JSON POST each, `{"events":[…]}`: delivered when the receiver answers 2xx.
 * Anything else — another status, a timeout, a refused connection — fails the batch, which
 * the runner sends again, the same events in the same order. A 413 makes it send smaller ones.
 */
export class WebhookSink implements SinkTransport {
  readonly target: string;
  readonly #options: WebhookSinkOptions;
  readonly #agent: Agent;
  readonly #origin: string;
  readonly #path: string;

  constructor(options: WebhookSinkOptions) {
    this.#options = options;
    const url = new URL(options.url);
    this.#origin = url.origin;
    this.#path = `${url.pathname}${url.search}`;
    this.target = `webhook ${url.origin}`;
    this.#agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connections: 1,
    });
  }

  async deliver(events: readonly OutgoingEvent[], signal: AbortSignal): Promise<void> {
    const body = `{"events":[${events.map((e) => e.json).join(',')}]}`;
    // A receiver that answers a byte at a time never trips the timeouts between bytes: the whole
    // delivery has a deadline too, so a batch cannot hold the sink (and its backlog cap) for ever.
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(3 * this.#options.timeoutMs)]);
    const response = await this.#agent.request({
      origin: this.#origin,
      path: this.#path,
      method: 'POST',
      headers: { ...this.#options.headers, 'content-type': 'application/json' },
      body,
      signal: deadline,
    });
    // The status decides; the answer is only read (and dropped) so the connection can be used again.
    await response.body.dump({ limit: MAX_ANSWER_BYTES, signal: deadline }).catch(() => {});
    const status = response.statusCode;
    if (status === 413) throw new BatchTooLarge(`the receiver answered 413 to ${events.length} events`);
    if (status < 200 || status > 299) throw new WebhookRefused(`the receiver answered ${status}`);
  }

  async close(): Promise<boolean> {
    await this.#agent.close().catch(() => {});
    return true;
  }
}
