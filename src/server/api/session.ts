import type { FastifyInstance } from 'fastify';
import { hashToken } from '../../identity/users.ts';
import type { AppContext } from '../context.ts';
import { principalOf, SESSION_HOURS, sessionCookie, sessionCookieHeader } from './auth.ts';
import { ApiError, guard } from './errors.ts';
import { ref } from './schemas.ts';
import { providerLogout } from './sso.ts';
import { presentUser } from './users/index.ts';

/** A sign-in body is `{"token": …}`: a token is at most 512 characters. */
const SIGN_IN_BODY_BYTES = 4096;

/**
 * Web console sign-in: a bridge token is exchanged for a console session — a token of its
 * own (kind `console`, 12 h), held only in an HttpOnly, SameSite=Strict cookie, listed with
 * the user's tokens — and sign-out revokes it. The bridge token itself never reaches the
 * browser's storage.
 */
export function sessionRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: { token: string } }>(
    '/session',
    {
      config: { anonymous: true }, // the token is in the body
      // Read before anyone is known (README "Security"): no bigger than a token needs.
      bodyLimit: SIGN_IN_BODY_BYTES,
      schema: {
        tags: ['console'],
        summary: 'Sign in to the web console with a bridge token',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 512 } },
        },
        response: { 200: ref('User'), 400: ref('Error'), 401: ref('Error'), 503: ref('Error') },
      },
    },
    async (request, reply) => {
      let principal: Awaited<ReturnType<typeof ctx.authenticator.authenticate>>;
      try {
        principal = await ctx.authenticator.authenticate(request.body.token.trim());
      } catch {
        throw new ApiError(503, 'the store is unavailable', { detail: 'sign-in cannot be checked right now' });
      }
      if (!principal) throw new ApiError(401, 'invalid or expired token');
      // A session never outlives the token it was opened with (one about to expire gives a short one).
      const now = Date.now();
      const lasts = Math.min(SESSION_HOURS * 3_600_000, (principal.key.expires_at?.getTime() ?? Infinity) - now);
      const expiresAt = new Date(now + lasts);
      const session = await guard(ctx, () =>
        ctx.users.createToken(principal.user._id, {
          kind: 'console',
          name: 'web console',
          expiresAt,
          openedWith: principal.apiKeyId,
        }),
      );
      reply.header('set-cookie', sessionCookieHeader(request, session.token, Math.max(1, Math.floor(lasts / 1000))));
      return presentUser(principal.user);
    },
  );

  app.get(
    '/session',
    {
      schema: {
        tags: ['console'],
        summary: 'Who is signed in',
        response: { 200: ref('User'), 401: ref('Error'), 503: ref('Error') },
      },
    },
    async (request) => presentUser((await principalOf(ctx, request)).user),
  );

  app.delete(
    '/session',
    {
      schema: {
        tags: ['console'],
        summary: "Sign out: the cookie's console session is revoked (the caller's own, unless an owner)",
        description:
          "A session begun with single sign-on answers 200 with the identity provider's sign-out page, where the provider offers one.",
        response: {
          200: {
            type: 'object',
            required: ['logout_url'],
            properties: { logout_url: { type: 'string', description: "the identity provider's sign-out page" } },
          },
          204: { type: 'null' },
          401: ref('Error'),
          403: ref('Error'),
          503: ref('Error'),
        },
      },
    },
    async (request, reply) => {
      // A cookie sign-out needs the CSRF header like any write. The caller may be someone else
      // (a bearer token beside the cookie): only an owner ends another user's session.
      const principal = await principalOf(ctx, request);
      const token = sessionCookie(request);
      let logoutUrl: string | undefined;
      if (token) {
        const key = await guard(ctx, () => ctx.store.identity.keyByHash(hashToken(token)));
        if (key?.kind === 'console' && !key.revoked_at) {
          if (key.user_id !== principal.user._id && principal.user.role !== 'owner') {
            throw new ApiError(403, 'you can only sign out of your own console session');
          }
          await guard(ctx, () => ctx.users.revokeToken(key._id));
          ctx.authenticator.forget();
          if (key.sso) logoutUrl = await providerLogout(ctx, request);
        }
      }
      reply.header('set-cookie', sessionCookieHeader(request, '', 0));
      return logoutUrl ? reply.code(200).send({ logout_url: logoutUrl }) : reply.code(204).send();
    },
  );
}
