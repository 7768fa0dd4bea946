import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { type BridgeErrorKind, errorBody, sendJson, statusOf } from '../providers/errors.ts';
import type { ProviderType } from '../providers/provider.ts';
import type { AppContext } from './context.ts';

/** Route roots: the bare one, Coder's AI Bridge and its 2026 name, AI Gateway (SPEC §4). */
export const ROOTS = ['', '/api/v2/aibridge', '/api/v2/ai-gateway'] as const;

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
 * A request refused before its body was read: Node discards what still arrives, so the client
 * can read the answer (closing on a sender makes its kernel drop our reply with a reset) and
 * the connection can be reused; a body still coming after DRAIN_MS costs the connection.
 */
export function limitDrain(req: IncomingMessage): void {
  const socket = req.socket as (typeof req.socket & { [DRAINING]?: boolean }) | null;
  if (req.complete || !socket) return;
  socket[DRAINING] = true;
  const timer = setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  const clear = () => {
    clearTimeout(timer);
    socket[DRAINING] = false;
  };
  req.once('end', clear); // the whole body arrived and was discarded
  socket.once('close', clear);
}

/** Refuses from a fastify hook, before the body is read. */
export function refuse(
  reply: FastifyReply,
  provider: ProviderType | undefined,
  kind: BridgeErrorKind,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  limitDrain(reply.request.raw);
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
  limitDrain(req);
  sendJson(res, statusOf(kind), errorFor(provider, kind, message));
}
