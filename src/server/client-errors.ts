import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { anthropicErrors, type BridgeErrorKind, openaiErrors, statusOf } from '../providers/errors.ts';
import { ANSWERED } from './body.ts';
import type { AppContext } from './context.ts';
import { countRefusal, DRAINING, errorFor, providerOf } from './refuse.ts';

const HANDLED = Symbol('aibridge.clientErrorHandled');
/** After answering a broken request, what the client still sends is read and discarded this long, then the socket closes. */
const LINGER_MS = 2_000;

type ClientError = Error & { code?: string; rawPacket?: Buffer };
type TrackedSocket = Socket & { [HANDLED]?: boolean; [DRAINING]?: boolean; _httpMessage?: ServerResponse };

/** The request path, for the error format: from the request when Node got that far, else the packet's request line. */
function pathOf(err: ClientError, res: ServerResponse | undefined): string | undefined {
  if (res?.req?.url) return res.req.url;
  const head = err.rawPacket?.subarray(0, 1024).toString('latin1') ?? '';
  return /^[A-Z]+ (\/\S*)/.exec(head)?.[1];
}

/**
 * When the route is unknown (an oversized header block is refused before Node hands over its
 * URL), one body that every caller reads: OpenAI SDKs take `error.message/type/code`, Anthropic
 * SDKs `type` and `error.type/message`, everything else `message`.
 */
function anyFormat(kind: BridgeErrorKind, message: string): unknown {
  const openai = openaiErrors.body(kind, message) as { error: object };
  const anthropic = anthropicErrors.body(kind, message) as { type: string; error: object };
  return { type: anthropic.type, error: { ...openai.error, ...anthropic.error }, message };
}

/**
 * Closes without a reset: a socket destroyed while the client is still sending makes the
 * client's kernel drop our answer. So: send FIN, read and discard a bounded while, then close.
 */
function lingeringClose(socket: Socket): void {
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}

/**
 * Node's parser errors and request timeouts, answered properly instead of with a reset:
 * headers over limits.max_header_bytes (a 70 KB header block, a 60 KB query) → 431, a body
 * not received within limits.body_timeout → 408, anything else unparseable → 400; in the
 * provider's error format when the path names one.
 */
export function clientErrorHandler(ctx: AppContext) {
  return (error: Error, raw: Socket): void => {
    const err = error as ClientError;
    const socket = raw as TrackedSocket;
    if (err.code === 'ECONNRESET' || socket.destroyed || socket[HANDLED]) return;
    socket[HANDLED] = true; // a broken parser reports every later packet again
    const res = socket._httpMessage;
    // Already answered (e.g. 401 before the body): the rest of that body is not worth waiting for.
    if (res?.headersSent || socket[DRAINING] || !socket.writable) {
      socket.destroy();
      return;
    }
    // A connection that never sent a byte (a client pool's spare): an answer would be taken by
    // the next request the client sends on it, so it is just closed.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0) {
      socket.end();
      return;
    }
    let kind: BridgeErrorKind = 'invalid_request';
    let message = 'malformed HTTP request';
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      kind = 'headers_too_large';
      message = `request headers (with the URL) exceed limits.max_header_bytes (${ctx.config.limits.max_header_bytes} bytes)`;
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      kind = 'request_timeout';
      message = `request not fully received within limits.body_timeout (${ctx.config.limits.body_timeout})`;
    }
    const status = statusOf(kind);
    const path = pathOf(err, res);
    const provider = path === undefined ? undefined : providerOf(ctx, path);
    countRefusal(ctx, provider, kind);
    const body = JSON.stringify(
      path === undefined ? anyFormat(kind, message) : errorFor(provider?.kind.errors, kind, message),
    );
    if (res) {
      // A request in flight (its body still arriving): answer through it so Node closes it cleanly.
      (res.req as { [ANSWERED]?: boolean })[ANSWERED] = true;
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      res.end(body);
      return;
    }
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    lingeringClose(socket);
  };
}
