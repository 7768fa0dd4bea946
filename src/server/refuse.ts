import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { type BridgeErrorKind, errorBody, sendJson, statusOf } from '../providers/errors.ts';
import type { ProviderType } from '../providers/provider.ts';
import type { AppContext } from './context.ts';

/** The provider whose routes a path belongs to (`/P/...` or `/api/v2/<root>/P/...`), for its error format. */
export function providerTypeOf(ctx: AppContext, url: string): ProviderType | undefined {
  const segments = url.split('?')[0]?.split('/') ?? [];
  const name = segments[1] === 'api' ? segments[4] : segments[1];
  return ctx.providers.find((p) => p.name === name)?.type;
}

/** An error body in the caller's format: the provider's on its routes, `{message}` everywhere else (SPEC §7). */
export function errorFor(provider: ProviderType | undefined, kind: BridgeErrorKind, message: string): unknown {
  return provider ? errorBody(provider, kind, message) : { message };
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
  reply: FastifyReply,
  provider: ProviderType | undefined,
  kind: BridgeErrorKind,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  answerBeforeBody(reply.request.raw, reply.raw);
  return reply
    .code(statusOf(kind))
    .headers(headers)
    .send(errorFor(provider, kind, message));
}

/** Refuses on the raw request, before fastify routes it. */
export function refuseRaw(
  req: IncomingMessage,
  res: ServerResponse,
  provider: ProviderType | undefined,
  kind: BridgeErrorKind,
  message: string,
): void {
  answerBeforeBody(req, res);
  sendJson(res, statusOf(kind), errorFor(provider, kind, message));
}
