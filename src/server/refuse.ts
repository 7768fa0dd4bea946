import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { RefusalReason } from '../observability/metrics.ts';
import { type BridgeErrorKind, type ErrorFormat, sendError, sendJson, statusOf } from '../providers/errors.ts';
import type { Provider } from '../providers/provider.ts';
import type { AppContext } from './context.ts';

/** Of a provider, what a refusal needs: its name (the metrics label) and kind (the error format). */
export type RouteProvider = Pick<Provider, 'name' | 'kind'>;

/** The provider whose routes a path belongs to (`/P/...` or `/api/v2/<root>/P/...`). */
export function providerOf(ctx: AppContext, url: string): RouteProvider | undefined {
  const segments = url.split('?')[0]?.split('/') ?? [];
  const name = segments[1] === 'api' ? segments[4] : segments[1];
  return ctx.providers.find((p) => p.name === name);
}

/** An error body in the caller's format: the provider's on its routes, `{message}` everywhere else (README "API"). */
export function errorFor(format: ErrorFormat | undefined, kind: BridgeErrorKind, message: string): unknown {
  return format ? format.body(kind, message) : { message };
}

/** Headers a provider kind's clients read an error's type from (Bedrock's `x-amzn-errortype`). */
export const errorHeaders = (format: ErrorFormat | undefined, kind: BridgeErrorKind): Record<string, string> =>
  format?.headers?.(kind) ?? {};

/** The reason a refusal of each kind is counted under; upstream failures and internal errors are not refusals. */
const REASON: Partial<Record<BridgeErrorKind, RefusalReason>> = {
  invalid_request: 'bad_request',
  authentication: 'unauthenticated',
  permission: 'forbidden',
  not_found: 'not_found',
  too_large: 'too_large',
  headers_too_large: 'too_large',
  request_timeout: 'timeout',
  rate_limited: 'rate_limited',
  overloaded: 'overloaded',
  not_configured: 'not_configured',
  loop_detected: 'loop',
};

/** Counts one refusal in `aibridge_refused_requests_total`; every refusal below goes through here. */
export function countRefusal(
  ctx: Pick<AppContext, 'metrics'>,
  provider: RouteProvider | undefined,
  kind: BridgeErrorKind,
  reason: RefusalReason | undefined = REASON[kind],
): void {
  if (reason) ctx.metrics.refusal(provider?.name, reason);
}

export interface RefusalOptions {
  headers?: Record<string, string>;
  /** When the kind's own reason is too coarse (a budget's 429 is not a rate limit's). */
  reason?: RefusalReason;
}

/** Set on a socket while the unread body of an answered request is being discarded. */
export const DRAINING = Symbol('aibridge.draining');

/** How long a refused request's unread body may keep arriving (and be discarded) before the connection is cut. */
const DRAIN_MS = 2_000;

/**
 * Prepares the answer to a request refused before its body was read. Closing at once (what
 * Node does for `Connection: close`) while the client is still sending makes the client's
 * kernel reset the connection and drop our answer unread. So the connection stays open while
 * Node discards the rest of the body (never buffered), for at most DRAIN_MS; then it is closed
 * if the client asked for that, or cut if the body is still coming.
 */
export function answerBeforeBody(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as (typeof req.socket & { [DRAINING]?: boolean }) | null;
  if (req.complete || !socket) return;
  const closeAfter = !res.shouldKeepAlive;
  res.shouldKeepAlive = true;
  socket[DRAINING] = true;
  const timer = setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  const done = () => {
    clearTimeout(timer);
    socket[DRAINING] = false;
  };
  req.once('end', () => {
    done();
    if (closeAfter) socket.end();
  });
  socket.once('close', done);
}

/** Refuses from a fastify hook, before the body is read. */
export function refuse(
  ctx: AppContext,
  reply: FastifyReply,
  provider: RouteProvider | undefined,
  kind: BridgeErrorKind,
  message: string,
  options: RefusalOptions = {},
): FastifyReply {
  countRefusal(ctx, provider, kind, options.reason);
  answerBeforeBody(reply.request.raw, reply.raw);
  const format = provider?.kind.errors;
  return reply
    .code(statusOf(kind))
    .headers({ ...errorHeaders(format, kind), ...options.headers })
    .send(errorFor(format, kind, message));
}

/** Refuses on the raw request, before fastify routes it. */
export function refuseRaw(
  ctx: AppContext,
  req: IncomingMessage,
  res: ServerResponse,
  provider: RouteProvider | undefined,
  kind: BridgeErrorKind,
  message: string,
): void {
  countRefusal(ctx, provider, kind);
  answerBeforeBody(req, res);
  const format = provider?.kind.errors;
  sendJson(res, statusOf(kind), errorFor(format, kind, message), errorHeaders(format, kind));
}

/** Refuses from a handler that took the raw response over (reply.hijack()), once the body is read. */
export function refuseHijacked(
  ctx: Pick<AppContext, 'metrics'>,
  res: ServerResponse,
  provider: RouteProvider,
  kind: BridgeErrorKind,
  message: string,
  options: RefusalOptions = {},
): void {
  countRefusal(ctx, provider, kind, options.reason);
  sendError(res, provider.kind.errors, kind, message, options.headers);
}
