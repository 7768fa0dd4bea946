import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PendingSignIn } from '../../identity/oidc/client.ts';
import { OidcError } from '../../identity/oidc/errors.ts';
import { claimsToIdentity } from '../../identity/oidc/identity.ts';
import { signInUser } from '../../identity/oidc/provision.ts';
import { seal, sealingKey, unseal } from '../../identity/oidc/seal.ts';
import type { AppContext } from '../context.ts';
import { overHttps, SESSION_HOURS, sessionCookieHeader } from './auth.ts';
import { API_PREFIX } from './prefix.ts';

/**
 * Single sign-on in the web console (README "Single sign-on"): `…/session/sso/start` sends the
 * browser to the identity provider with a fresh `state`, `nonce` and PKCE verifier, kept only in
 * a short-lived cookie sealed by the bridge (any replica can open it; nothing is kept between
 * requests); `…/session/sso/callback` checks them, redeems the code, validates the ID token,
 * creates or updates the user from the claims and starts a console session, as a token sign-in
 * would. A refusal sends the browser back to the console with a code the page words.
 */

/** The pending sign-in's cookie: SameSite=Lax, as the provider's redirect back is a cross-site navigation. */
const PENDING_COOKIE = 'aibridge_sso';
const PENDING_SECONDS = 600;
const CALLBACK = '/session/sso/callback';

interface Pending extends PendingSignIn {
  /** When the sign-in started (ms since the epoch). */
  at: number;
}

const isPending = (value: unknown): value is Pending =>
  !!value &&
  ['state', 'nonce', 'codeVerifier', 'redirectUri'].every(
    (k) => typeof (value as Record<string, unknown>)[k] === 'string',
  ) &&
  typeof (value as Pending).at === 'number';

/**
 * The pending cookie's name: over HTTPS `__Host-` (Secure, host-only, Path=/ by rule), so a
 * sibling subdomain cannot plant its own pending sign-in and have a victim finish it (login CSRF).
 */
const pendingName = (request: FastifyRequest) => (overHttps(request) ? `__Host-${PENDING_COOKIE}` : PENDING_COOKIE);

function pendingCookie(request: FastifyRequest, value: string, maxAge: number): string {
  const flags = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`, ...(overHttps(request) ? ['Secure'] : [])];
  return `${pendingName(request)}=${value}; ${flags.join('; ')}`;
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** The address the browser reached the bridge at (a proxy in front must pass Host on). */
const origin = (request: FastifyRequest) => `${overHttps(request) ? 'https' : 'http'}://${request.headers.host}`;

const sealKey = (ctx: AppContext) => {
  const settings = ctx.oidc?.settings;
  if (!settings) return undefined;
  return sealingKey(settings.client_secret, `console sign-in\n${settings.issuer}\n${settings.client_id}`);
};

/** Back to the console: signed in, or with a refusal's code for the sign-in page to word. */
function backToConsole(reply: FastifyReply, error?: string): FastifyReply {
  reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
  return reply.redirect(error ? `/?sso_error=${encodeURIComponent(error)}` : '/', 303);
}

/** The provider's sign-out page for a single sign-on session ending now, when it has one. */
export async function providerLogout(ctx: AppContext, request: FastifyRequest): Promise<string | undefined> {
  try {
    return await ctx.oidc?.logoutUrl(undefined, `${origin(request)}/`);
  } catch (err) {
    ctx.logger.warn({ reason: (err as OidcError).reason }, 'single sign-on: no sign-out page from the provider');
    return undefined;
  }
}

export function ssoRoutes(app: FastifyInstance, ctx: AppContext): void {
  const log = ctx.logger.child({ component: 'sso' });

  app.get(
    '/session/sso',
    {
      config: { anonymous: true },
      schema: {
        tags: ['console'],
        summary: 'Whether the console offers single sign-on',
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['enabled'],
            properties: {
              enabled: { type: 'boolean' },
              start: { type: 'string', description: 'where the browser goes to sign in' },
            },
          },
        },
      },
    },
    async () => (ctx.oidc ? { enabled: true, start: `${API_PREFIX}/session/sso/start` } : { enabled: false }),
  );

  app.get('/session/sso/start', { config: { anonymous: true }, schema: { hide: true } }, async (request, reply) => {
    const client = ctx.oidc;
    const key = sealKey(ctx);
    if (!client || !key) return backToConsole(reply, 'not_configured');
    const redirectUri = client.settings.redirect_url ?? `${origin(request)}${API_PREFIX}${CALLBACK}`;
    let started: Awaited<ReturnType<typeof client.beginSignIn>>;
    try {
      started = await client.beginSignIn({ redirectUri });
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      log.warn({ code: err.code, reason: err.reason }, 'single sign-on: could not start a sign-in');
      return backToConsole(reply, err.code);
    }
    const { url, ...pending } = started;
    const sealed = seal(key, { ...pending, at: Date.now() } satisfies Pending);
    reply
      .header('set-cookie', pendingCookie(request, sealed, PENDING_SECONDS))
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer');
    return reply.redirect(url, 302);
  });

  app.get(CALLBACK, { config: { anonymous: true }, schema: { hide: true } }, async (request, reply) => {
    const client = ctx.oidc;
    const key = sealKey(ctx);
    // The pending sign-in is used once, whatever happens next.
    reply.header('set-cookie', pendingCookie(request, '', 0));
    if (!client || !key) return backToConsole(reply, 'not_configured');
    const opened = unseal(key, readCookie(request, pendingName(request)) ?? '');
    try {
      if (!isPending(opened) || Date.now() - opened.at > PENDING_SECONDS * 1000) throw new OidcError('state_mismatch');
      const url = new URL(request.url, origin(request));
      const result = await client.completeSignIn(url, opened);
      const { user, created } = await signInUser(ctx.directory, claimsToIdentity(result.claims, client.settings), log);
      const expiresAt = new Date(Date.now() + SESSION_HOURS * 3_600_000);
      const session = await ctx.users.createToken(user.id, {
        kind: 'console',
        name: 'web console (single sign-on)',
        expiresAt,
        sso: true,
      });
      ctx.authenticator.forget();
      log.info(
        { user: user.id, username: user.username, role: user.role, created, api_key_id: session.apiKeyId },
        'single sign-on: console sign-in',
      );
      reply.header('set-cookie', [
        pendingCookie(request, '', 0),
        sessionCookieHeader(request, session.token, SESSION_HOURS * 3600),
      ]);
      return backToConsole(reply);
    } catch (err) {
      if (err instanceof OidcError) {
        log.warn({ code: err.code, reason: err.reason }, 'single sign-on: console sign-in refused');
        return backToConsole(reply, err.code);
      }
      log.error({ err: (err as Error).message }, 'single sign-on: console sign-in failed');
      return backToConsole(reply, 'unavailable');
    }
  });
}
