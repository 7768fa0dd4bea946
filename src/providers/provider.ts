import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { Agent } from 'undici';
import type { Config, ProviderConfig } from '../config/config.ts';
import { parseDuration } from '../config/duration.ts';
import { BreakerSet, type BreakerState } from '../limits/circuit-breaker.ts';
import { HOP_HEADER, nextHop } from './hop.ts';

export type ProviderType = ProviderConfig['type'];

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

/** The web console's session cookie (src/api/auth.ts), over HTTP and HTTPS: a bridge token too. */
const SESSION_COOKIE = /^\s*(?:__Host-)?aibridge_session=/;

/** A Cookie header without the console's session: null when nothing else is left. */
function withoutSession(cookie: string): string | null {
  if (!cookie.includes('aibridge_session=')) return cookie;
  const kept = cookie.split(';').filter((part) => !SESSION_COOKIE.test(part));
  return kept.length ? kept.map((part) => part.trim()).join('; ') : null;
}

/** A configured upstream: where it lives, how to authenticate to it, and a pooled keep-alive dispatcher. */
export class Provider {
  readonly name: string;
  readonly type: ProviderType;
  readonly origin: string;
  /** Where its key is set, for messages: `providers[0].api_key`. */
  readonly keySetting: string;
  readonly #basePath: string;
  readonly #apiKey: string;
  readonly dispatcher: Agent;
  /** One circuit per model served by this provider. */
  readonly breakers: BreakerSet;

  /** `onBreakerTransition` hears each model's circuit change state (the metrics do). */
  constructor(
    config: ProviderConfig,
    limits: Config['limits'],
    index = 0,
    onBreakerTransition?: (model: string, to: BreakerState) => void,
  ) {
    const url = new URL(config.base_url);
    this.name = config.name;
    this.type = config.type;
    this.origin = url.origin;
    this.keySetting = `providers[${index}].api_key`;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#apiKey = config.api_key.trim();
    const timeout = parseDuration(limits.upstream_timeout);
    this.breakers = new BreakerSet(
      { threshold: limits.breaker_threshold, cooldownMs: parseDuration(limits.breaker_cooldown) },
      undefined,
      onBreakerTransition,
    );
    this.dispatcher = new Agent({
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: timeout, // long generations may think for minutes before the first byte
      bodyTimeout: timeout,
      pipelining: 1,
    });
  }

  /** False when no api_key is configured: its requests are refused instead of sent keyless. */
  get hasKey(): boolean {
    return this.#apiKey !== '';
  }

  /** Client path after `/<name>` (e.g. `/v1/messages`) → upstream path under base_url. */
  upstreamPath(clientPath: string): string {
    // OpenAI base URLs conventionally end in /v1; Anthropic's do not.
    const rest = this.type === 'openai' ? clientPath.replace(/^\/v1(?=\/|$)/, '') : clientPath;
    return this.#basePath + rest;
  }

  /** The client's headers minus the dropped ones, plus the provider's own credentials. */
  upstreamHeaders(client: IncomingHttpHeaders): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(client)) {
      if (value !== undefined && !DROPPED_REQUEST_HEADERS.has(name)) headers[name] = value;
    }
    if (typeof headers.cookie === 'string') {
      const cookie = withoutSession(headers.cookie);
      if (cookie === null) delete headers.cookie;
      else headers.cookie = cookie;
    }
    if (this.type === 'anthropic') headers['x-api-key'] = this.#apiKey;
    else headers.authorization = `Bearer ${this.#apiKey}`;
    headers[HOP_HEADER] = nextHop(client);
    return headers;
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
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
