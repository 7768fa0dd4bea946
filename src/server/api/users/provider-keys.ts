import type { FastifyInstance } from 'fastify';
import { CredentialsKeyError } from '../../../mcp/credentials.ts';
import { UserKeyError } from '../../../providers/user-keys.ts';
import type { AppContext } from '../../context.ts';
import { ApiError, guard, invalid } from '../errors.ts';
import { ref } from '../schemas.ts';
import { caller, errors, iso, type Params, target, userParams } from './shared.ts';

type ProviderParams = Params & { provider: string };

/** GET /users/{user}/provider-keys: the providers that take users' own keys, and which are stored (themselves, owners). */
export function listProviderKeys(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Params }>(
    '/users/:user/provider-keys',
    {
      schema: {
        tags: ['provider-keys'],
        summary: "The providers that take users' own keys, and whether this user stored one (never the key)",
        params: userParams,
        response: { 200: ref('ProviderKeyList'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const stored = new Map((await guard(ctx, () => ctx.userKeys.list(user._id))).map((k) => [k.provider, k]));
      const results = ctx.providers
        .filter((p) => p.byok !== 'off')
        .map((p) => ({
          provider: p.name,
          type: p.type,
          byok: p.byok,
          stored: stored.has(p.name),
          updated_at: iso(stored.get(p.name)?.updated_at),
        }));
      return { count: results.length, results };
    },
  );
}

/** PUT /users/{user}/provider-keys/{provider}: store (replace) a sealed key, never shown again (themselves, owners). */
export function putProviderKey(app: FastifyInstance, ctx: AppContext): void {
  app.put<{ Params: ProviderParams; Body: { key: string } }>(
    '/users/:user/provider-keys/:provider',
    {
      schema: {
        tags: ['provider-keys'],
        summary: "Store (replace) this user's own key for a provider; it is sealed and never shown again",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['key'],
          properties: { key: { type: 'string', minLength: 1, maxLength: 4096 } },
        },
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const provider = ctx.providers.find((p) => p.name === request.params.provider);
      if (!provider) throw new ApiError(404, `no provider "${request.params.provider}" is configured`);
      if (provider.byok === 'off') {
        throw invalid(
          [{ field: 'provider', detail: `"${provider.name}" does not take users' own keys (byok: off)` }],
          'invalid provider',
        );
      }
      await guard(ctx, async () => {
        try {
          await ctx.userKeys.set(user._id, provider.name, request.body.key);
        } catch (err) {
          if (err instanceof UserKeyError) {
            throw invalid([{ field: 'key', detail: err.message }], 'invalid request body');
          }
          if (!(err instanceof CredentialsKeyError)) throw err;
          throw new ApiError(503, "users' own provider keys are not enabled on this bridge", { detail: err.message });
        }
      });
      return reply.code(204).send();
    },
  );
}

/** DELETE /users/{user}/provider-keys/{provider}: the shared key is used again where allowed (themselves, owners). */
export function deleteProviderKey(app: FastifyInstance, ctx: AppContext): void {
  app.delete<{ Params: ProviderParams }>(
    '/users/:user/provider-keys/:provider',
    {
      schema: {
        tags: ['provider-keys'],
        summary: "Remove this user's own key for a provider (the shared key is used again where allowed)",
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, true);
      const deleted = await guard(ctx, () => ctx.userKeys.delete(user._id, request.params.provider));
      if (!deleted) throw new ApiError(404, `no key stored for "${request.params.provider}"`);
      return reply.code(204).send();
    },
  );
}
