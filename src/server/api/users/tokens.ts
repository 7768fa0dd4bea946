import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { ApiError, guard } from '../errors.ts';
import { ref } from '../schemas.ts';
import {
  caller,
  changeUser,
  errors,
  iso,
  type Params,
  parseExpiry,
  presentToken,
  target,
  userParams,
} from './shared.ts';

/** GET /users/{user}/tokens: their tokens and live console sessions, never the secrets (themselves, owners). */
export function listTokens(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Params }>(
    '/users/:user/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: "A user's tokens and live console sessions (never the secrets)",
        params: userParams,
        response: { 200: ref('TokenList'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(ctx, request);
      const user = await target(ctx, principal, request.params.user, true);
      const tokens = await guard(ctx, () => ctx.users.tokens(user._id));
      return {
        count: tokens.length,
        results: tokens.map((k) => ({ ...presentToken(k), current: k._id === principal.apiKeyId })),
      };
    },
  );
}

/** POST /users/{user}/tokens: a new token, shown once (themselves, owners). */
export function createToken(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Params: Params; Body: { name?: string; expires?: string } }>(
    '/users/:user/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Issue a token (shown once)',
        params: userParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 100 },
            expires: { type: 'string', description: 'a duration from now (30d, 12h) or an RFC 3339 time' },
          },
        },
        response: { 201: ref('NewToken'), ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const expiresAt = parseExpiry(request.body?.expires);
      const issued = await guard(ctx, () =>
        ctx.users.createToken(user._id, { name: request.body?.name ?? '', expiresAt }),
      );
      return reply.code(201).send({
        token: issued.token,
        id: issued.apiKeyId,
        name: issued.key.name,
        expires_at: iso(issued.key.expires_at),
      });
    },
  );
}

/** DELETE /users/{user}/tokens/{id}: revoke a token or end a console session (themselves, owners). */
export function revokeToken(app: FastifyInstance, ctx: AppContext): void {
  app.delete<{ Params: Params & { id: string } }>(
    '/users/:user/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token, or end a console session',
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const key = await guard(ctx, () => ctx.users.token(request.params.id));
      if (!key || key.user_id !== user._id) throw new ApiError(404, `no token "${request.params.id}"`);
      await changeUser(ctx, () => ctx.users.revokeToken(key._id));
      return reply.code(204).send();
    },
  );
}
