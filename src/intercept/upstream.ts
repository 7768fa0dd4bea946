import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { isUpstreamFault } from '../limits/upstream-faults.ts';
import { injectTraceHeaders } from '../observability/tracing.ts';
import { CircuitOpenError } from '../providers/errors.ts';
import type { Provider } from '../providers/provider.ts';
import { credentialsRefusal } from '../providers/upstream-failure.ts';

type UpstreamResponse = Dispatcher.ResponseData;

/** What the loop reads of an upstream answer (an undici response, or a fixture in unit tests). */
export interface UpstreamReply {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array | string> & { text(): Promise<string> };
}

/** Upstream answers that count against a model's circuit: server errors and Anthropic's 529 overload. */
const isFailure = (status: number) => status >= 500;

/**
 * One POST to the provider with the client's headers (credentials swapped) and the given
 * body, through the circuit breaker of this provider and model. `path` is the upstream path
 * under the provider's base URL, query included.
 */
export async function callUpstream(
  provider: Provider,
  path: string,
  clientHeaders: IncomingHttpHeaders,
  body: Buffer | string,
  signal: AbortSignal,
  model: string,
): Promise<UpstreamResponse> {
  const breaker = provider.breakers.for(model);
  if (!breaker.allow()) {
    const retryAfter = breaker.retryAfterSeconds();
    throw new CircuitOpenError(
      `${provider.name} is failing for model ${model}; circuit open, retry in ${retryAfter}s`,
      retryAfter,
    );
  }
  const headers = provider.upstreamHeaders(clientHeaders);
  headers['content-type'] = 'application/json';
  injectTraceHeaders(headers); // our upstream span replaces the client's traceparent
  const call = { method: 'POST', path: provider.upstreamPath(path), headers, body };
  let response: UpstreamResponse;
  try {
    const signing = provider.authorize(call);
    if (signing) await signing;
    response = await provider.dispatcher.request({ ...call, origin: provider.origin, method: 'POST', signal });
  } catch (err) {
    if (!signal.aborted && isUpstreamFault(err)) breaker.failure();
    else breaker.release(); // a client leaving, or a request we refused to send, says nothing about the upstream
    throw err;
  }
  if (isFailure(response.statusCode)) breaker.failure();
  else breaker.success();
  const refusal = await credentialsRefusal(provider, response);
  if (refusal) throw refusal;
  return response;
}

/** Reads at most `limit` bytes of an error body for a message, discarding the rest. */
export async function readSnippet(response: UpstreamReply, limit = 2_000): Promise<string> {
  const text = await response.body.text().catch(() => '');
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
