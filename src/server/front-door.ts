import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener } from 'node:http';
import { isLoop } from '../providers/hop.ts';
import { routeProxiedRequest } from '../proxy/facts.ts';
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
 * request from an intercepted proxy session is routed to its mapped provider (`/v1/messages`
 * on api.anthropic.com → `/anthropic/v1/messages`), and only there; a path with
 * `.`/`..`/empty segments → 400; a request that already went through this bridge (our hop
 * marker) → 508, never forwarded again.
 */
export function frontDoor(ctx: AppContext, next: RequestListener): RequestListener {
  return (req, res) => {
    requestIdOf(req);
    const proxied = routeProxiedRequest(req);
    const url = req.url ?? '/';
    if (proxied && !url.startsWith(`/${proxied.provider}/`)) {
      // Not origin-form (`GET https://…`, `OPTIONS *`): it would escape the provider's routes.
      const provider = ctx.providers.find((p) => p.name === proxied.provider);
      refuseRaw(
        ctx,
        req,
        res,
        provider,
        'invalid_request',
        'a request through the proxy needs a path that starts with /',
      );
      return;
    }
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
