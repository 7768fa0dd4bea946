import type { ServerResponse } from 'node:http';
import { type BridgeErrorKind, sendError, sendJson } from '../providers/errors.ts';
import { clientResponseHeaders, type ProviderType, relayResponse } from '../providers/provider.ts';
import type { UpstreamReply } from './upstream.ts';

type UpstreamHeaders = UpstreamReply['headers'];

/** Where an interception's answer goes: the client's HTTP response (or a fake in unit tests). */
export interface ClientChannel {
  /** True once the status line and headers are out. */
  readonly started: boolean;
  /** A streaming answer: 200 with the upstream's headers (minus framing), sent with the first event. */
  openStream(upstreamHeaders: UpstreamHeaders): void;
  write(text: string): void;
  /** The upstream's body untouched, as the whole answer. */
  sendRaw(upstreamHeaders: UpstreamHeaders, body: string): void;
  /** A body the bridge composed, as the whole answer. */
  sendJson(upstreamHeaders: UpstreamHeaders, body: unknown): void;
  /** The upstream's answer as it came: status, headers, bytes. */
  relay(reply: UpstreamReply): Promise<void>;
  /** An error in the provider's format; once the answer has started it can only end. */
  error(kind: BridgeErrorKind, message: string, headers?: Record<string, string>): void;
  /** Ends the answer if nothing has yet. */
  end(): void;
}

/** The client's HTTP response. A class: a stream held open keeps one small object, not a closure per method. */
class HttpChannel implements ClientChannel {
  readonly #res: ServerResponse;
  readonly #provider: ProviderType;

  constructor(res: ServerResponse, provider: ProviderType) {
    this.#res = res;
    this.#provider = provider;
  }

  get started(): boolean {
    return this.#res.headersSent;
  }

  openStream(upstreamHeaders: UpstreamHeaders): void {
    // Not flushed on their own: the first event follows at once and takes them along, one
    // write (and one wake-up of the client) fewer per stream. A stream that stays silent
    // still gets them with its first keep-alive.
    this.#res.writeHead(200, clientResponseHeaders(upstreamHeaders, { dropLength: true }));
  }

  write(text: string): void {
    this.#res.write(text);
  }

  sendRaw(upstreamHeaders: UpstreamHeaders, body: string): void {
    this.#res.writeHead(200, clientResponseHeaders(upstreamHeaders));
    this.#res.end(body);
  }

  sendJson(upstreamHeaders: UpstreamHeaders, body: unknown): void {
    sendJson(this.#res, 200, body, clientResponseHeaders(upstreamHeaders, { dropLength: true }));
  }

  relay(reply: UpstreamReply): Promise<void> {
    return relayResponse(this.#res, reply);
  }

  error(kind: BridgeErrorKind, message: string, headers?: Record<string, string>): void {
    sendError(this.#res, this.#provider, kind, message, headers);
  }

  end(): void {
    if (!this.#res.writableEnded) this.#res.end();
  }
}

export const httpChannel = (res: ServerResponse, provider: ProviderType): ClientChannel =>
  new HttpChannel(res, provider);
