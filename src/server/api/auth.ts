import type { FastifyReply, FastifyRequest } from 'fastify';
import { tokenFrom } from '../../identity/authenticator.ts';
import type { Principal } from '../../identity/users.ts';
import type { AppContext } from '../context.ts';
import { answerBeforeBody } from '../refuse.ts';
import { ApiError, sendApiError, storeUnavailable } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks no token of its own accord (sign-in, the OpenAPI document). */
    anonymous?: boolean;
  }
}

/** The web console's session cookie: a console-kind token, HttpOnly and SameSite=Strict. */
export const SESSION_COOKIE = 'aibridge_session';
/**
 * Its name over HTTPS: a `__Host-` cookie is Secure, host-only and Path=/ by rule, so neither
 * plain HTTP nor a sibling subdomain (which may set cookies for the parent domain) can plant or
 * overwrite it — no session fixation.
 */
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
/** Cookie-authenticated writes must carry this header; a cross-site form or image cannot. */
const CSRF_HEADER = 'x-aibridge-csrf';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether the browser reached the bridge over HTTPS: directly, or through a proxy that
 * terminates TLS and says so in X-Forwarded-Proto. Only the cookie's name and Secure flag
 * follow it, so a client that sends the header itself changes nothing but its own cookie.
 */
export function overHttps(request: FastifyRequest): boolean {
  if (request.protocol === 'https') return true;
  const forwarded = request.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

export const sessionCookieName = (request: FastifyRequest) =>
  overHttps(request) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;

/** How long a console session lasts. */
export const SESSION_HOURS = 12;

/** Over HTTPS (direct or through a TLS-terminating proxy) the cookie is Secure and `__Host-` prefixed. */
export function sessionCookieHeader(request: FastifyRequest, value: string, maxAge: number): string {
  const flags = [
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAge}`,
    ...(overHttps(request) ? ['Secure'] : []),
  ];
  return `${sessionCookieName(request)}=${encodeURIComponent(value)}; ${flags.join('; ')}`;
}

/** The session cookie's value; over HTTPS only the `__Host-` one counts. A mangled value is kept as it is (and refused). */
export function sessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  const name = sessionCookieName(request);
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      const value = part.slice(at + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/**
 * Why a cookie-authenticated write is cross-site, or undefined. The Origin, when sent, must
 * name this host (the Host header: a proxy in front must pass it on) over HTTP or HTTPS — a
 * proxy terminating TLS makes the page's origin https while the bridge is spoken to in http.
 */
function crossSite(request: FastifyRequest): string | undefined {
  if (request.headers[CSRF_HEADER] !== '1') return `send the ${CSRF_HEADER} header`;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  const host = request.headers.host;
  if (host && (origin === `http://${host}` || origin === `https://${host}`)) return undefined;
  return `the request's Origin (${origin}) is not the bridge's own address`;
}

/**
 * The caller of an API route: a bridge token in a header, or the console's session cookie.
 * A cookie alone never authorises a state change: it also needs the CSRF header, and an
 * Origin, when sent, must be this host.
 */
export async function principalOf(ctx: AppContext, request: FastifyRequest): Promise<Principal> {
  const known = request.principal;
  if (known) return known;
  let token = tokenFrom(request.headers);
  if (!token) {
    token = sessionCookie(request);
    if (token && !SAFE.has(request.method)) {
      const why = crossSite(request);
      if (why) throw new ApiError(403, 'cross-site request refused', { detail: why });
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
  request.principal = principal;
  return principal;
}

/**
 * The API's onRequest hook: the caller is checked before fastify reads the body, so an
 * unauthenticated request costs its headers only (README "Security"), as on the provider routes.
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
const isOwner = (p: Principal) => p.user.role === 'owner';

export function requireOwner(p: Principal): void {
  if (!isOwner(p)) throw new ApiError(403, 'only owners can do this');
}
