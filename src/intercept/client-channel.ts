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

export function httpChannel(res: ServerResponse, provider: ProviderType): ClientChannel {
  return {
    get started() {
      return res.headersSent;
    },
    openStream(upstreamHeaders) {
      // Not flushed on their own: the first event follows at once and takes them along, one
      // write (and one wake-up of the client) fewer per stream. A stream that stays silent
      // still gets them with its first keep-alive.
      res.writeHead(200, clientResponseHeaders(upstreamHeaders, { dropLength: true }));
    },
    write(text) {
      res.write(text);
    },
    sendRaw(upstreamHeaders, body) {
      res.writeHead(200, clientResponseHeaders(upstreamHeaders));
      res.end(body);
    },
    sendJson(upstreamHeaders, body) {
      sendJson(res, 200, body, clientResponseHeaders(upstreamHeaders, { dropLength: true }));
    },
    relay: (reply) => relayResponse(res, reply),
    error(kind, message, headers) {
      sendError(res, provider, kind, message, headers);
    },
    end() {
      if (!res.writableEnded) res.end();
    },
  };
}
