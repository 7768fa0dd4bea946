import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseRfc3339 } from '../audit/query.ts';
import { budgetWindow } from '../budgets/window.ts';
import { parseDuration } from '../config/duration.ts';
import { IdentityError, type Principal, USERNAME_PATTERN, type User, usernameProblem } from '../identity/users.ts';
import { CredentialsKeyError, McpCredentials, parseHeader } from '../mcp/credentials.ts';
import { UserKeyError } from '../providers/user-keys.ts';
import type { AppContext } from '../server/context.ts';
import { type ApiKeyDoc, type Budget, ROLES, type Role } from '../store/store.ts';
import { principalOf, requireOwner, seesEveryone } from './auth.ts';
import { ApiError, guard, invalid } from './errors.ts';
import { ref } from './schemas.ts';
import { sees, visibilityOf } from './visibility.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** Who is in which team, by name, to show with users. */
export interface TeamNames {
  of(userId: string): string[];
  name(teamId: string): string | undefined;
}

export async function teamNames(ctx: Pick<AppContext, 'store'>): Promise<TeamNames> {
  const [teams, members] = await Promise.all([ctx.store.teams.list(), ctx.store.teams.members()]);
  const names = new Map(teams.map((t) => [t._id, t.name]));
  const byUser = new Map<string, string[]>();
  for (const m of members) {
    const name = names.get(m.team_id);
    if (name) byUser.set(m.user_id, [...(byUser.get(m.user_id) ?? []), name]);
  }
  return {
    of: (userId) => (byUser.get(userId) ?? []).sort((a, b) => a.localeCompare(b)),
    name: (teamId) => names.get(teamId),
  };
}

export const presentUser = (u: User, teams?: TeamNames) => ({
  id: u._id,
  username: u.username,
  name: u.name,
  role: u.role,
  created_at: u.created_at.toISOString(),
  disabled: u.disabled_at !== null,
  deleted: u.deleted_at !== null,
  budget: u.budget ?? null,
  denied_servers: u.denied_servers ?? [],
  email: u.email ?? null,
  sso: Boolean(u.sso),
  ...(teams
    ? {
        teams: teams.of(u._id),
        audit_teams: (u.audit_teams ?? []).map((id) => teams.name(id)).filter((n): n is string => n !== undefined),
      }
    : {}),
});

export const presentToken = (k: ApiKeyDoc) => ({
  id: k._id,
  kind: k.kind,
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

/**
 * The user a path names (`me` = the caller), visible to owners (and auditors when reading) or
 * themselves; an auditor limited to teams reads only their members. Anyone else gets 403
 * whether the name exists or not (no probing for names), unless it names the caller after all
 * (in another case).
 */
async function target(ctx: AppContext, principal: Principal, name: string, write: boolean): Promise<User> {
  const self = name === 'me' || name === principal.user._id || name === principal.user.username;
  if (self) return principal.user;
  const allowed = write ? principal.user.role === 'owner' : seesEveryone(principal);
  const user = await guard(ctx, () => ctx.users.resolve(name));
  if (user?._id === principal.user._id) return principal.user;
  if (!allowed) throw new ApiError(403, 'you can only manage your own account');
  if (!user || user.deleted_at) throw new ApiError(404, `no user "${name}"`);
  if (!write && !sees(await guard(ctx, () => visibilityOf(ctx, principal)), user._id)) {
    throw new ApiError(404, `no user "${name}"`);
  }
  return user;
}

const STATUS_OF = { invalid: 400, taken: 409, 'last-owner': 409, unknown: 404 } as const;

/** Team names or ids → ids, each one checked; null or [] clears the limit. */
async function auditTeamIds(ctx: AppContext, names: string[] | null | undefined): Promise<string[] | undefined> {
  if (names === undefined) return undefined;
  const ids: string[] = [];
  for (const name of names ?? []) {
    const team = await guard(ctx, () => ctx.teams.resolve(name));
    if (!team) throw invalid([{ field: 'audit_teams', detail: `no team "${name}"` }], 'invalid request body');
    ids.push(team._id);
  }
  return [...new Set(ids)];
}

/** Identity refusals as the API answers them; inside `guard`, which lets an ApiError through. */
function identityErrors<T>(work: () => Promise<T>): () => Promise<T> {
  return () =>
    work().catch((err) => {
      if (err instanceof IdentityError) throw new ApiError(STATUS_OF[err.reason], err.message);
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
      return guard(ctx, async () => {
        const visibility = await visibilityOf(ctx, principal);
        const names = await teamNames(ctx);
        const users = (await ctx.users.list()).filter((u) => sees(visibility, u._id));
        return { users: users.map((u) => presentUser(u, names)) };
      });
    },
  );

  app.post<{ Body: { username: string; name?: string; role?: Role; audit_teams?: string[] } }>(
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
              description:
                '1-64 letters, digits, ".", "_" or "-"; unique regardless of case, and reserved for good once used; never "me" or shaped like a user id (UUID)',
            },
            name: { type: 'string', minLength: 1, description: 'display name; the username by default' },
            role: { type: 'string', enum: [...ROLES], default: 'member' },
            audit_teams: {
              type: 'array',
              items: { type: 'string' },
              maxItems: 1000,
              description: 'an auditor limited to these teams (names or ids)',
            },
          },
        },
        response: { 201: ref('NewUser'), 409: ref('Error'), ...errors },
      },
    },
    async (request, reply) => {
      requireOwner(await caller(request));
      const { username, name, role } = request.body;
      const problem = usernameProblem(username);
      if (problem) throw invalid([{ field: 'username', detail: problem }], 'invalid request body');
      const auditTeams = await auditTeamIds(ctx, request.body.audit_teams);
      let user = await guard(
        ctx,
        identityErrors(() => ctx.users.create(username, { name, role })),
      );
      if (auditTeams?.length) {
        user = await guard(
          ctx,
          identityErrors(() => ctx.users.update(user._id, { audit_teams: auditTeams })),
        );
      }
      const { token } = await guard(ctx, () => ctx.users.createToken(user._id, { name: 'first token' }));
      return reply.code(201).send({ user: presentUser(user, await guard(ctx, () => teamNames(ctx))), token });
    },
  );

  app.get<{ Params: Params }>(
    '/users/:user',
    { schema: { tags: ['users'], summary: 'One user', params: userParams, response: { 200: ref('User'), ...errors } } },
    async (request) =>
      presentUser(
        await target(ctx, await caller(request), request.params.user, false),
        await guard(ctx, () => teamNames(ctx)),
      ),
  );

  app.patch<{
    Params: Params;
    Body: {
      name?: string;
      role?: Role;
      disabled?: boolean;
      budget?: Budget | null;
      denied_servers?: string[];
      audit_teams?: string[] | null;
    };
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
            audit_teams: {
              anyOf: [{ type: 'array', items: { type: 'string' }, maxItems: 1000 }, { type: 'null' }],
              description: 'an auditor limited to these teams (names or ids); null or []: everyone',
            },
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
      const auditTeams = await auditTeamIds(ctx, body.audit_teams);
      if (auditTeams !== undefined) patch.audit_teams = auditTeams;
      const changed = await guard(
        ctx,
        identityErrors(() => ctx.users.update(user._id, patch)),
      );
      ctx.authenticator.forget();
      return presentUser(changed, await guard(ctx, () => teamNames(ctx)));
    },
  );

  app.delete<{ Params: Params }>(
    '/users/:user/budget',
    {
      schema: {
        tags: ['users'],
        summary: "Remove a user's own budget: their role's default applies again (owners)",
        params: userParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const principal = await caller(request);
      requireOwner(principal);
      const user = await target(ctx, principal, request.params.user, true);
      await guard(
        ctx,
        identityErrors(() => ctx.users.setBudget(user._id, null)),
      );
      ctx.authenticator.forget();
      return reply.code(204).send();
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
      await guard(
        ctx,
        identityErrors(() => ctx.users.delete(user._id)),
      );
      ctx.authenticator.forget();
      return reply.code(204).send();
    },
  );

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
      const principal = await caller(request);
      const user = await target(ctx, principal, request.params.user, true);
      const tokens = await guard(ctx, () => ctx.users.tokens(user._id));
      return { tokens: tokens.map((k) => ({ ...presentToken(k), current: k._id === principal.apiKeyId })) };
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
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token, or end a console session',
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const user = await target(ctx, await caller(request), request.params.user, true);
      const key = await guard(ctx, () => ctx.users.token(request.params.id));
      if (!key || key.user_id !== user._id) throw new ApiError(404, `no token "${request.params.id}"`);
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
