import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener } from 'node:http';
import { isLoop } from '../providers/hop.ts';
import type { AppContext } from './context.ts';
import { pathProblem } from './path-guard.ts';
import { providerOf, refuseRaw } from './refuse.ts';

const REQUEST_ID = Symbol('aibridge.requestId');

/** The request's id (fastify's request.id, logged with every line): set once at the front door. */
export function requestIdOf(req: IncomingMessage): string {
  const tagged = req as IncomingMessage & { [REQUEST_ID]?: string };
  tagged[REQUEST_ID] ??= randomUUID();
  return tagged[REQUEST_ID];
}

/**
 * What every request passes before fastify routes it, on headers alone (its body unread): a
 * path with `.`/`..`/empty segments → 400; a request that already went through this bridge
 * (our hop marker) → 508, never forwarded again.
 */
export function frontDoor(ctx: AppContext, next: RequestListener): RequestListener {
  return (req, res) => {
    requestIdOf(req);
    const url = req.url ?? '/';
    const problem = pathProblem(url);
    if (problem) {
      refuseRaw(ctx, req, res, providerOf(ctx, url), 'invalid_request', `${problem}; it is refused, not normalised`);
      return;
    }
    if (isLoop(req.headers)) {
      ctx.logger.warn({ path: url.split('?')[0] }, 'request loop detected: a provider base_url leads back here');
      refuseRaw(
        ctx,
        req,
        res,
        providerOf(ctx, url),
        'loop_detected',
        'loop detected: this request already passed through this bridge; a provider base_url points back at it',
      );
      return;
    }
    next(req, res);
  };
}
