import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { HOP_HEADER, nextHop } from './hop.ts';

/** Hop-by-hop headers: they describe one connection, not the message. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/**
 * Never forwarded upstream: hop-by-hop, framing, and the client's own credentials. `expect` is
 * this hop's business (Node answered the client's 100-continue already) and undici refuses it.
 */
const DROPPED_REQUEST_HEADERS = new Set([
  ...HOP_BY_HOP,
  'host',
  'content-length',
  'accept-encoding',
  'expect',
  HOP_HEADER,
  'authorization',
  'x-api-key',
  'coder-session-token',
  'http2-settings',
]);

const DROPPED_RESPONSE_HEADERS = new Set(HOP_BY_HOP);

/** The web console's session cookie (server/api/auth.ts), over HTTP and HTTPS: a bridge token too. */
const SESSION_COOKIE = /^\s*(?:__Host-)?aibridge_session=/;

/** A Cookie header without the console's session: null when nothing else is left. */
function withoutSession(cookie: string): string | null {
  if (!cookie.includes('aibridge_session=')) return cookie;
  const kept = cookie.split(';').filter((part) => !SESSION_COOKIE.test(part));
  return kept.length ? kept.map((part) => part.trim()).join('; ') : null;
}

/**
 * The client's headers for the upstream: without hop-by-hop ones, framing, the client's
 * credentials (and `alsoDropped`, a kind's own credential headers) and the console's cookie,
 * with this bridge's hop marker. The provider's credentials are set afterwards.
 */
export function forwardedHeaders(
  client: IncomingHttpHeaders,
  alsoDropped?: ReadonlySet<string>,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(client)) {
    if (value !== undefined && !DROPPED_REQUEST_HEADERS.has(name) && !alsoDropped?.has(name)) headers[name] = value;
  }
  if (typeof headers.cookie === 'string') {
    const cookie = withoutSession(headers.cookie);
    if (cookie === null) delete headers.cookie;
    else headers.cookie = cookie;
  }
  headers[HOP_HEADER] = nextHop(client);
  return headers;
}

/** Upstream response headers safe to hand to the client as they are. */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  options: { dropLength?: boolean } = {},
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    if (options.dropLength && (name === 'content-length' || name === 'content-encoding')) continue;
    headers[name] = value;
  }
  return headers;
}

/** Relays an upstream answer exactly as the provider sent it: status, headers, bytes. */
export async function relayResponse(
  res: ServerResponse,
  upstream: Pick<Dispatcher.ResponseData, 'statusCode' | 'headers'> & { body: AsyncIterable<Uint8Array | string> },
): Promise<void> {
  res.writeHead(upstream.statusCode, clientResponseHeaders(upstream.headers));
  for await (const chunk of upstream.body) res.write(chunk);
  res.end();
}

/** An abort signal that fires when the client goes away before its response is complete. */
export function abortOnClose(res: ServerResponse): AbortController {
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  return abort;
}
