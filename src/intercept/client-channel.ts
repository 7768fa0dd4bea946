import type { ServerResponse } from 'node:http';
import { type BridgeErrorKind, type ErrorFormat, sendError, sendJson } from '../providers/errors.ts';
import { clientResponseHeaders, relayResponse } from '../providers/headers.ts';
import type { ClientStream } from '../providers/kind.ts';
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

/**
 * The client's HTTP response, in its provider kind's error format and stream framing. A class: a
 * stream held open keeps one small object, not a closure per method.
 */
class HttpChannel implements ClientChannel {
  readonly #res: ServerResponse;
  readonly #errors: ErrorFormat;
  /** Set for a kind whose clients read another framing than SSE (Bedrock's event stream). */
  readonly #stream: ClientStream | undefined;

  constructor(res: ServerResponse, errors: ErrorFormat, stream: ClientStream | undefined) {
    this.#res = res;
    this.#errors = errors;
    this.#stream = stream;
  }

  get started(): boolean {
    return this.#res.headersSent;
  }

  openStream(upstreamHeaders: UpstreamHeaders): void {
    // Not flushed on their own: the first event follows at once and takes them along, one
    // write (and one wake-up of the client) fewer per stream. A stream that stays silent
    // still gets them with its first keep-alive.
    const headers = clientResponseHeaders(upstreamHeaders, { dropLength: true });
    if (this.#stream?.contentType) headers['content-type'] = this.#stream.contentType;
    this.#res.writeHead(200, headers);
  }

  write(text: string): void {
    if (this.#stream) this.#stream.write(text);
    else this.#res.write(text);
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
    sendError(this.#res, this.#errors, kind, message, headers);
  }

  end(): void {
    if (!this.#res.writableEnded) this.#res.end();
  }
}

export const httpChannel = (res: ServerResponse, errors: ErrorFormat, stream?: ClientStream): ClientChannel =>
  new HttpChannel(res, errors, stream);
