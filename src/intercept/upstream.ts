import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Provider } from '../providers/provider.ts';

export type UpstreamResponse = Dispatcher.ResponseData;

/** One POST to the provider with the client's headers (credentials swapped) and the given body. */
export function callUpstream(
  provider: Provider,
  path: string,
  clientHeaders: IncomingHttpHeaders,
  body: Buffer | string,
  signal: AbortSignal,
): Promise<UpstreamResponse> {
  const headers = provider.upstreamHeaders(clientHeaders);
  headers['content-type'] = 'application/json';
  return provider.dispatcher.request({
    origin: provider.origin,
    path: provider.upstreamPath(path),
    method: 'POST',
    headers,
    body,
    signal,
  });
}

/** Reads at most `limit` bytes of an error body for a message, discarding the rest. */
export async function readSnippet(response: UpstreamResponse, limit = 2_000): Promise<string> {
  const text = await response.body.text().catch(() => '');
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
