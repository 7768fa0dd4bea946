import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { isUpstreamFault, isUpstreamTimeout } from '../limits/upstream-faults.ts';
import { type BridgeErrorKind, type ErrorFormat, sendError } from './errors.ts';

/**
 * What to tell a client about a failed upstream call: a kind and words without internals —
 * error texts like `connect ECONNREFUSED 10.0.0.7:443` name addresses the client must not see.
 */
export function describeUpstreamFailure(
  err: unknown,
  requestId: string,
): { kind: BridgeErrorKind; what: string; message: string } {
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
  request.log.warn({ ...logFields, err: (err as Error)?.message, code: (err as { code?: string })?.code }, what);
  sendError(res, errors, kind, message, { 'x-request-id': request.id });
}
