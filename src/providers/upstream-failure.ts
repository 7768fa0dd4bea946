import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { isUpstreamFault, isUpstreamTimeout } from '../limits/upstream-faults.ts';
import { BridgeError, type BridgeErrorKind, type ErrorFormat, sendError, UpstreamAuthError } from './errors.ts';
import type { ProviderKind } from './kind.ts';

/**
 * What to tell a client about a failed upstream call: a kind and words without internals —
 * error texts like `connect ECONNREFUSED 10.0.0.7:443` name addresses the client must not see.
 * The bridge's own errors (credentials it could not get) are already worded for the client.
 */
export function describeUpstreamFailure(
  err: unknown,
  requestId: string,
): { kind: BridgeErrorKind; what: string; message: string } {
  if (err instanceof BridgeError) {
    return { kind: err.kind, what: err.message, message: `${err.message} (request id ${requestId})` };
  }
  const timedOut = isUpstreamTimeout(err);
  const what = timedOut
    ? 'upstream timed out'
    : isUpstreamFault(err)
      ? 'upstream unreachable'
      : 'upstream request failed';
  return { kind: timedOut ? 'upstream_timeout' : 'upstream', what, message: `${what} (request id ${requestId})` };
}

/** Answers a failed upstream call; the detail is logged under the request id the client is given. */
export function sendUpstreamFailure(
  res: ServerResponse,
  errors: ErrorFormat,
  err: unknown,
  request: { id: string; log: FastifyBaseLogger },
  logFields: Record<string, unknown> = {},
): void {
  const { kind, what, message } = describeUpstreamFailure(err, request.id);
  const detail = err instanceof UpstreamAuthError ? err.detail : (err as Error)?.message;
  request.log.warn({ ...logFields, err: detail, code: (err as { code?: string })?.code }, what);
  sendError(res, errors, kind, message, { 'x-request-id': request.id });
}

/** An upstream answer, as far as telling a refusal of the bridge's credentials needs it. */
interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array | string>;
}

/** At most `limit` characters of a body, never the rest of it (an error page may be large). */
export async function readLimited(body: AsyncIterable<Uint8Array | string>, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of body) {
      text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      if (text.length >= limit) break;
    }
  } catch {}
  return text.slice(0, limit);
}

/**
 * The error to answer with when the upstream refused the bridge's own credentials (the kind knows
 * how its upstream says so), its body read for the log; undefined for any other answer.
 */
export async function credentialsRefusal(
  provider: { name: string; kind: ProviderKind },
  answer: Answer,
): Promise<UpstreamAuthError | undefined> {
  if (!provider.kind.refusedCredentials?.(answer.statusCode, answer.headers)) return undefined;
  const said = await readLimited(answer.body, 2_000);
  return new UpstreamAuthError(
    'upstream',
    `provider "${provider.name}" refused the bridge's own credentials; the bridge's operator can find why in its log`,
    `upstream answered ${answer.statusCode}: ${said}`,
  );
}
