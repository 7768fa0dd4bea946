import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseRfc3339 } from '../audit/query.ts';
import { budgetWindow } from '../budgets/window.ts';
import { parseDuration } from '../config/duration.ts';
import {
  IdentityError,
  type Principal,
  RESERVED_USERNAMES,
  reservedUsername,
  USERNAME_PATTERN,
  type User,
} from '../identity/users.ts';
import { CredentialsKeyError, McpCredentials, parseHeader } from '../mcp/credentials.ts';
import { UserKeyError } from '../providers/user-keys.ts';
import type { AppContext } from '../server/context.ts';
import { type ApiKeyDoc, type Budget, ROLES, type Role } from '../store/store.ts';
import { principalOf, requireOwner, seesEveryone } from './auth.ts';
import { ApiError, guard, invalid } from './errors.ts';
import { ref } from './schemas.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const presentUser = (u: User) => ({
  id: u._id,
  username: u.username,
  name: u.name,
  role: u.role,
  created_at: u.created_at.toISOString(),
  disabled: u.disabled_at !== null,
  deleted: u.deleted_at !== null,
  budget: u.budget ?? null,
  denied_servers: u.denied_servers ?? [],
});

export const presentToken = (k: ApiKeyDoc) => ({
  id: k._id,
  name: k.name,
  created_at: k.created_at.toISOString(),
  last_used_at: iso(k.last_used_at),
  expires_at: iso(k.expires_at),
  revoked_at: iso(k.revoked_at),
});

/** `30d`-style durations from now, or an RFC 3339 time; must lie in the future (and within what a Date holds). */
export function parseExpiry(text: string | undefined | null, now = Date.now()): Date | null {
  if (text === undefined || text === null || text === '') return null;
  let at: Date | undefined;
  try {
    at = new Date(now + parseDuration(text));
  } catch {
    at = parseRfc3339(text);
  }
  if (!at || !(at.getTime() > now))
    throw invalid(
      [{ field: 'expires', detail: 'use a duration like 30d or a future RFC 3339 time' }],
      'invalid request body',
    );
  return at;
}

type Params = { user: string };

/** The user a path names (`me` = the caller), visible to owners (and auditors when reading) or themselves. */
async function target(ctx: AppContext, principal: Principal, name: string, write: boolean): Promise<User> {
  const self = name === 'me' || name === principal.user._id || name === principal.user.username;
  if (self) return principal.user;
  const allowed = write ? principal.user.role === 'owner' : seesEveryone(principal);
  if (!allowed) throw new ApiError(403, 'you can only manage your own account');
  const user = await guard(ctx, () => ctx.users.resolve(name));
  if (!user || user.deleted_at) throw new ApiError(404, `no user "${name}"`);
  return user;
}

/** Refuses a change that would leave no enabled owner: someone must be able to undo it. */
async function keepAnOwner(ctx: AppContext, user: User, after: Partial<User>): Promise<void> {
  if (user.role !== 'owner' || user.disabled_at || user.deleted_at) return;
  const stillOwner = (after.role ?? user.role) === 'owner' && !after.disabled_at && !after.deleted_at;
  if (stillOwner) return;
  const owners = (await ctx.users.list()).filter((u) => u.role === 'owner' && !u.disabled_at && u._id !== user._id);
  if (!owners.length) throw new ApiError(409, 'refused: this would leave no enabled owner');
}

function identityErrors<T>(work: () => Promise<T>): Promise<T> {
  return work().catch((err) => {
    if (err instanceof IdentityError) throw new ApiError(409, err.message);
    throw err;
  });
}

const errors = { 400: ref('Error'), 401: ref('Error'), 403: ref('Error'), 404: ref('Error'), 503: ref('Error') };
const userParams = { type: 'object', properties: { user: { type: 'string', description: 'username, id, or me' } } };

/**
 * Users, tokens, MCP credentials and own provider keys over HTTP (SPEC §3): owners manage
 * everyone; every user manages their own tokens, MCP credentials and provider keys. Changes to who may use a token are felt at
 * once on this replica and within 5 s on the others (the authenticators' re-check interval).
 */
export function userRoutes(app: FastifyInstance, ctx: AppContext): void {
  const caller = (request: FastifyRequest) => principalOf(ctx, request);

  app.get(
    '/users',
    { schema: { tags: ['users'], summary: 'List users', response: { 200: ref('UserList'), ...errors } } },
    async (request) => {
      const principal = await caller(request);
      if (!seesEveryone(principal)) throw new ApiError(403, 'only owners and auditors can list users');
      return { users: (await guard(ctx, () => ctx.users.list())).map(presentUser) };
    },
  );

  app.post<{ Body: { username: string; name?: string; role?: Role } }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user and their first token',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['username'],
          properties: {
            username: {
              type: 'string',
              pattern: USERNAME_PATTERN.source,
              description: '1-64 letters, digits, ".", "_" or "-"; unique, and reserved for good once used',
            },
            name: { type: 'string', minLength: 1, description: 'display name; the username by default' },
            role: { type: 'string', enum: [...ROLES], default: 'member' },
          },
        },
        response: { 201: ref('NewUser'), 409: ref('Error'), ...errors },
      },
    },
    async (request, reply) => {
      requireOwner(await caller(request));
      const { username, name, role } = request.body;
      if (RESERVED_USERNAMES.includes(username)) {
        throw invalid([{ field: 'username', detail: reservedUsername(username) }], 'invalid request body');
      }
      const user = await identityErrors(() => guard(ctx, () => ctx.users.create(username, { name, role })));
      const { token } = await guard(ctx, () => ctx.users.createToken(user._id, { name: 'first token' }));
      return reply.code(201).send({ user: presentUser(user), token });
    },
  );

  app.get<{ Params: Params }>(
    '/users/:user',
    { schema: { tags: ['users'], summary: 'One user', params: userParams, response: { 200: ref('User'), ...errors } } },
    async (request) => presentUser(await target(ctx, await caller(request), request.params.user, false)),
  );

  app.patch<{
    Params: Params;
    Body: { name?: string; role?: Role; disabled?: boolean; budget?: Budget | null; denied_servers?: string[] };
  }>(
    '/users/:user',
    {
      schema: {
        tags: ['users'],
        summary: 'Change a user: role, name, disabled, budget, denied MCP servers (owners)',
        params: userParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: { type: 'string', minLength: 1 },
            role: { type: 'string', enum: [...ROLES] },
            disabled: { type: 'boolean' },
            budget: { anyOf: [ref('Budget'), { type: 'null' }] },
            denied_servers: { type: 'array', items: { type: 'string' } },
          },
        },
        response: { 200: ref('User'), 409: ref('Error'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(request);
      requireOwner(principal);
      const user = await target(ctx, principal, request.params.user, true);
      const body = request.body;
      const patch: Partial<User> = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.role !== undefined) patch.role = body.role;
      if (body.disabled !== undefined) patch.disabled_at = body.disabled ? (user.disabled_at ?? new Date()) : null;
      if (body.budget !== undefined) patch.budget = body.budget;
      if (body.denied_servers !== undefined) patch.denied_servers = [...new Set(body.denied_servers)].sort();
      await guard(ctx, () => keepAnOwner(ctx, user, patch));
      await guard(ctx, () => ctx.store.identity.updateUser(user._id, patch));
      ctx.authenticator.forget();
      return presentUser({ ...user, ...patch });
    },
  );

  app.delete<{ Params: Params }>(
    '/users/:user',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete a user (their records stay; tokens are revoked)',
        params: userParams,
        response: { 204: { type: 'null' }, 409: ref('Error'), ...errors },
      },
    },
    async (request, reply) => {
      const principal = await caller(request);
      requireOwner(principal);
      const user = await target(ctx, principal, request.params.user, true);
      await guard(ctx, () => keepAnOwner(ctx, user, { deleted_at: new Date() }));
      await guard(ctx, () => ctx.users.delete(user._id));
      ctx.authenticator.forget();
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Params }>(
    '/users/:user/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: "A user's tokens (never the secrets)",
        params: userParams,
        response: { 200: ref('TokenList'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      return { tokens: (await guard(ctx, () => ctx.users.tokens(user._id))).map(presentToken) };
    },
  );

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
      const user = await target(ctx, await caller(request), request.params.user, true);
      const expiresAt = parseExpiry(request.body?.expires);
      const issued = await guard(ctx, () =>
        ctx.users.createToken(user._id, { name: request.body?.name ?? '', expiresAt }),
      );
      return reply
        .code(201)
        .send({ token: issued.token, id: issued.apiKeyId, name: issued.key.name, expires_at: iso(expiresAt) });
    },
  );

  app.delete<{ Params: Params & { id: string } }>(
    '/users/:user/tokens/:id',
    { schema: { tags: ['tokens'], summary: 'Revoke a token', response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const key = await guard(ctx, () => ctx.users.token(request.params.id));
      if (!key || key.user_id !== user._id || key.kind !== 'api')
        throw new ApiError(404, `no token "${request.params.id}"`);
      await guard(ctx, () => ctx.users.revokeToken(key._id));
      ctx.authenticator.forget();
      return reply.code(204).send();
    },
  );

  const credentials = () => new McpCredentials(ctx.store.credentials);

  app.get<{ Params: Params }>(
    '/users/:user/mcp-credentials',
    {
      schema: {
        tags: ['mcp'],
        summary: "A user's MCP credentials: servers and header names, never values",
        params: userParams,
        response: { 200: ref('CredentialList'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const list = await guard(ctx, () => credentials().list(user._id));
      return {
        credentials: list.map((c) => ({
          server: c.server,
          headers: c.header_names,
          created_at: c.created_at.toISOString(),
          updated_at: c.updated_at.toISOString(),
        })),
      };
    },
  );

  app.put<{ Params: Params & { server: string }; Body: { headers: Record<string, string> } }>(
    '/users/:user/mcp-credentials/:server',
    {
      schema: {
        tags: ['mcp'],
        summary: 'Store (replace) the headers this user sends to a per-user MCP server',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['headers'],
          properties: {
            headers: {
              type: 'object',
              minProperties: 1,
              maxProperties: 20,
              additionalProperties: { type: 'string', maxLength: 8192 },
            },
          },
        },
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const server = ctx.config.mcp_servers.find((s) => s.name === request.params.server);
      if (!server) throw new ApiError(404, `no MCP server "${request.params.server}" is configured`);
      if (!server.per_user_credentials) {
        throw invalid(
          [{ field: 'server', detail: `"${server.name}" does not take per-user credentials` }],
          'invalid server',
        );
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.body.headers)) {
        try {
          const [n, v] = parseHeader(`${name}: ${value}`);
          headers[n] = v;
        } catch (err) {
          throw invalid([{ field: `headers.${name}`, detail: (err as Error).message }], 'invalid request body');
        }
      }
      await guard(ctx, async () => {
        try {
          await credentials().set(user._id, server.name, headers);
        } catch (err) {
          if (!(err instanceof CredentialsKeyError)) throw err;
          throw new ApiError(503, 'per-user MCP credentials are not enabled on this bridge', { detail: err.message });
        }
      });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Params & { server: string } }>(
    '/users/:user/mcp-credentials/:server',
    {
      schema: {
        tags: ['mcp'],
        summary: "Remove a user's headers for a server",
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const deleted = await guard(ctx, () => credentials().delete(user._id, request.params.server));
      if (!deleted) throw new ApiError(404, `no credentials for "${request.params.server}"`);
      return reply.code(204).send();
    },
  );

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
      const user = await target(ctx, await caller(request), request.params.user, true);
      const stored = new Map((await guard(ctx, () => ctx.userKeys.list(user._id))).map((k) => [k.provider, k]));
      return {
        providers: ctx.providers
          .filter((p) => p.byok !== 'off')
          .map((p) => ({
            provider: p.name,
            type: p.type,
            byok: p.byok,
            stored: stored.has(p.name),
            updated_at: iso(stored.get(p.name)?.updated_at),
          })),
      };
    },
  );

  app.put<{ Params: Params & { provider: string }; Body: { key: string } }>(
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
      const user = await target(ctx, await caller(request), request.params.user, true);
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

  app.delete<{ Params: Params & { provider: string } }>(
    '/users/:user/provider-keys/:provider',
    {
      schema: {
        tags: ['provider-keys'],
        summary: "Remove this user's own key for a provider (the shared key is used again where allowed)",
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const deleted = await guard(ctx, () => ctx.userKeys.delete(user._id, request.params.provider));
      if (!deleted) throw new ApiError(404, `no key stored for "${request.params.provider}"`);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Params }>(
    '/users/:user/spend',
    {
      schema: {
        tags: ['usage'],
        summary: "A user's spend in the current budget period",
        params: userParams,
        response: { 200: ref('Spend'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(request), request.params.user, false);
      const budget = ctx.budgets.budgetOf(user);
      const window = budgetWindow(budget?.period ?? 'month', new Date());
      const spent = await guard(ctx, () => ctx.store.audit.spend(user._id, window.start));
      return {
        budget,
        spent_usd: spent,
        period_start: window.start.toISOString(),
        resets_at: window.resetsAt.toISOString(),
      };
    },
  );
}
