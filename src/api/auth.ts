import type { FastifyReply, FastifyRequest } from 'fastify';
import { tokenFrom } from '../identity/authenticator.ts';
import type { Principal } from '../identity/users.ts';
import type { AppContext } from '../server/context.ts';
import { answerBeforeBody } from '../server/refuse.ts';
import { ApiError, sendApiError, storeUnavailable } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks no token of its own accord (sign-in, the OpenAPI document). */
    anonymous?: boolean;
  }
}

/** The web console's session cookie: a console-kind token, HttpOnly and SameSite=Strict. */
export const SESSION_COOKIE = 'aibridge_session';
/** Cookie-authenticated writes must carry this header; a cross-site form or image cannot. */
export const CSRF_HEADER = 'x-aibridge-csrf';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function sessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === SESSION_COOKIE) return decodeURIComponent(part.slice(at + 1).trim());
  }
  return undefined;
}

/**
 * The caller of an API route: a bridge token in a header, or the console's session cookie.
 * A cookie alone never authorises a state change: it also needs the CSRF header, and an
 * Origin, when sent, must be this host.
 */
export async function principalOf(ctx: AppContext, request: FastifyRequest): Promise<Principal> {
  const known = principals.get(request);
  if (known) return known;
  let token = tokenFrom(request.headers);
  if (!token) {
    token = sessionCookie(request);
    if (token && !SAFE.has(request.method)) {
      const origin = request.headers.origin;
      const sameOrigin = !origin || origin === `${request.protocol}://${request.headers.host}`;
      if (request.headers[CSRF_HEADER] !== '1' || !sameOrigin) {
        throw new ApiError(403, 'cross-site request refused', { detail: `send the ${CSRF_HEADER} header` });
      }
    }
  }
  if (!token) {
    throw new ApiError(401, 'missing session token', {
      detail: 'send Authorization: Bearer, Coder-Session-Token or X-Api-Key',
    });
  }
  let principal: Principal | null;
  try {
    principal = await ctx.authenticator.authenticate(token);
  } catch {
    throw storeUnavailable();
  }
  if (!principal) throw new ApiError(401, 'invalid or expired session token');
  principals.set(request, principal);
  return principal;
}

const principals = new WeakMap<FastifyRequest, Principal>();

/**
 * The API's onRequest hook: the caller is checked before fastify reads the body, so an
 * unauthenticated request costs its headers only (SPEC §15), as on the provider routes.
 */
export function authenticateFirst(ctx: AppContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config?.anonymous) return;
    try {
      await principalOf(ctx, request);
    } catch (err) {
      answerBeforeBody(request.raw, reply.raw);
      return sendApiError(err, request, reply);
    }
  };
}

export const seesEveryone = (p: Principal) => p.user.role === 'owner' || p.user.role === 'auditor';
export const isOwner = (p: Principal) => p.user.role === 'owner';

export function requireOwner(p: Principal): void {
  if (!isOwner(p)) throw new ApiError(403, 'only owners can do this');
}
