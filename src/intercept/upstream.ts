import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { CircuitBreaker } from '../limits/circuit-breaker.ts';
import { isUpstreamFault, isUpstreamTimeout } from '../limits/upstream-faults.ts';
import { injectTraceHeaders } from '../observability/tracing.ts';
import { BridgeError, CircuitOpenError } from '../providers/errors.ts';
import { DEFAULT_COOL_MS, failoverReason, type KeyPool, retryAfterMs } from '../providers/key-pool.ts';
import type { StreamDecoder } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { credentialsRefusal, readLimited } from '../providers/upstream-failure.ts';

type UpstreamResponse = Dispatcher.ResponseData;

/** What the loop reads of an upstream answer (an undici response, or a fixture in unit tests). */
export interface UpstreamReply {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array | string> & { text(): Promise<string> };
  /** How its stream is framed, when not as the interception's own upstream frames it (an alias's target of another kind). */
  decoder?: () => StreamDecoder;
}

/** Upstream answers that count against a model's circuit: server errors and Anthropic's 529 overload. */
const isFailure = (status: number) => status >= 500;

/**
 * One POST to the provider with the client's headers (credentials swapped) and the given
 * body, through the circuit breaker of this provider and model. `path` is the upstream path
 * under the provider's base URL, query included. `userKey` is a user's own key (README "Bring
 * your own key"): sent as it is, its answers the user's to see. Otherwise a provider with a key
 * pool takes its keys in turn and moves on to the next when one is answered 429, 5xx, 401/403 or
 * not at all, before anything reaches the client (README "Key pools").
 */
export async function callUpstream(
  provider: Provider,
  path: string,
  clientHeaders: IncomingHttpHeaders,
  body: Buffer | string,
  signal: AbortSignal,
  model: string,
  userKey?: string,
): Promise<UpstreamResponse> {
  const breaker = provider.breakers.for(model);
  if (!breaker.allow()) {
    const retryAfter = breaker.retryAfterSeconds();
    throw new CircuitOpenError(
      `${provider.name} is failing for model ${model}; circuit open, retry in ${retryAfter}s`,
      retryAfter,
    );
  }
  // undici keeps a string body for the whole response beside the bytes it encodes it to (twice
  // its length when any character is beyond latin1): the bytes alone are kept.
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const send = (key: string | undefined) => sendOnce(provider, path, clientHeaders, bytes, signal, breaker, key);
  const pool = userKey === undefined ? provider.pool : undefined;
  if (!pool) {
    const response = await send(userKey);
    // A refusal of a user's own key is theirs to read; the bridge's is the operator's.
    const refusal = userKey === undefined ? await credentialsRefusal(provider, response) : undefined;
    if (refusal) throw refusal;
    return response;
  }
  const tried = new Set<number>();
  for (;;) {
    const lease = pool.take(tried);
    if (!lease) {
      if (!tried.size) breaker.release();
      throw exhausted(provider, pool);
    }
    tried.add(lease.index);
    let response: UpstreamResponse;
    try {
      response = await send(lease.key);
    } catch (err) {
      if (signal.aborted || !isUpstreamTimeout(err)) throw err;
      pool.cool(lease.index, 'timeout', DEFAULT_COOL_MS.timeout);
      continue;
    }
    const reason = failoverReason(response.statusCode);
    if (!reason) return response;
    await response.body.dump().catch(() => {});
    if (reason === 'refused') pool.refuse(lease.index, response.statusCode);
    else pool.cool(lease.index, reason, retryAfterMs(response.headers) ?? DEFAULT_COOL_MS[reason]);
  }
}

/** One attempt, counted by the breaker: an upstream fault or a 5xx counts against it, a client leaving does not. */
async function sendOnce(
  provider: Provider,
  path: string,
  clientHeaders: IncomingHttpHeaders,
  body: Buffer | string,
  signal: AbortSignal,
  breaker: CircuitBreaker,
  key: string | undefined,
): Promise<UpstreamResponse> {
  const headers = provider.upstreamHeaders(clientHeaders);
  headers['content-type'] = 'application/json';
  injectTraceHeaders(headers); // our upstream span replaces the client's traceparent
  const call = { method: 'POST', path: provider.upstreamPath(path), headers, body };
  let response: UpstreamResponse;
  try {
    const signing = provider.authorize(call, key);
    if (signing) await signing;
    response = await provider.dispatcher.request({ ...call, origin: provider.origin, method: 'POST', signal });
  } catch (err) {
    if (!signal.aborted && isUpstreamFault(err)) breaker.failure();
    else breaker.release(); // a client leaving, or a request we refused to send, says nothing about the upstream
    throw err;
  }
  if (isFailure(response.statusCode)) breaker.failure();
  else breaker.success();
  return response;
}

/**
 * No key of the pool is left for this call: a 429 with the shortest wait while keys cool down,
 * or a 503 when the upstream refused them all (the log says which).
 */
function exhausted(provider: Provider, pool: KeyPool): BridgeError {
  pool.exhausted();
  const wait = pool.wait();
  if (wait === undefined) {
    return new BridgeError(
      'not_configured',
      `provider "${provider.name}" has no key the upstream accepts (it refused every one in api_keys); ask the bridge's operator`,
    );
  }
  const seconds = Math.max(1, Math.ceil(wait / 1000));
  return new BridgeError(
    'rate_limited',
    `every key of provider "${provider.name}" is cooling down after rate limits or errors; retry in ${seconds}s`,
    { 'retry-after': String(seconds) },
  );
}

/** At most `limit` characters of an error body for a message, with … where it was cut; the rest is not read. */
export async function readSnippet(response: UpstreamReply, limit = 2_000): Promise<string> {
  const text = await readLimited(response.body, limit + 1);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
