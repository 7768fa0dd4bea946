import type { FastifyInstance } from 'fastify';
import { USERNAME_PATTERN, type User, usernameProblem } from '../../../identity/users.ts';
import { type Budget, ROLES, type Role } from '../../../store/store.ts';
import type { AppContext } from '../../context.ts';
import { requireOwner, seesEveryone } from '../auth.ts';
import { ApiError, guard, invalid } from '../errors.ts';
import { ref } from '../schemas.ts';
import { sees, visibilityOf } from '../visibility.ts';
import {
  caller,
  changeUser,
  errors,
  identityErrors,
  type Params,
  presentUser,
  target,
  teamNames,
  userParams,
} from './shared.ts';

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

/**
 * GET /users: owners and auditors (an auditor limited to teams sees their members); deleted
 * users (marked `deleted`) with `?include_deleted=true`.
 */
export function listUsers(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: { include_deleted?: string } }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'List users',
        querystring: {
          type: 'object',
          properties: {
            include_deleted: { type: 'string', enum: ['true', 'false'], description: 'also list deleted users' },
          },
        },
        response: { 200: ref('UserList'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(ctx, request);
      if (!seesEveryone(principal)) throw new ApiError(403, 'only owners and auditors can list users');
      const flag = request.query.include_deleted;
      if (flag !== undefined && flag !== 'true' && flag !== 'false') {
        throw invalid([{ field: 'include_deleted', detail: 'include_deleted must be true or false' }]);
      }
      return guard(ctx, async () => {
        const visibility = await visibilityOf(ctx, principal);
        const names = await teamNames(ctx);
        const users = (await ctx.users.list({ includeDeleted: flag === 'true' })).filter((u) =>
          sees(visibility, u._id),
        );
        return { count: users.length, results: users.map((u) => presentUser(u, names)) };
      });
    },
  );
}

/** POST /users: a user and their first token, shown once (owners). */
export function createUser(app: FastifyInstance, ctx: AppContext): void {
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
      requireOwner(await caller(ctx, request));
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
      return reply.code(201).send({ user: presentUser(user, await guard(ctx, () => teamNames(ctx, user._id))), token });
    },
  );
}

/** GET /users/{user}: themselves, owners and auditors (limited ones: their teams' members). */
export function getUser(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Params }>(
    '/users/:user',
    { schema: { tags: ['users'], summary: 'One user', params: userParams, response: { 200: ref('User'), ...errors } } },
    async (request) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, false);
      return presentUser(user, await guard(ctx, () => teamNames(ctx, user._id)));
    },
  );
}

type Patch = {
  name?: string;
  role?: Role;
  disabled?: boolean;
  budget?: Budget | null;
  denied_servers?: string[];
  audit_teams?: string[] | null;
};

/** PATCH /users/{user}: role, name, disabled, budget, denied MCP servers, an auditor's teams (owners). */
export function patchUser(app: FastifyInstance, ctx: AppContext): void {
  app.patch<{ Params: Params; Body: Patch }>(
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
      const principal = await caller(ctx, request);
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
      const changed = await changeUser(ctx, () => ctx.users.update(user._id, patch));
      return presentUser(changed, await guard(ctx, () => teamNames(ctx, changed._id)));
    },
  );
}

/** DELETE /users/{user}: their records stay, their tokens are revoked (owners). */
export function deleteUser(app: FastifyInstance, ctx: AppContext): void {
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
      const principal = await caller(ctx, request);
      requireOwner(principal);
      const user = await target(ctx, principal, request.params.user, true);
      await changeUser(ctx, () => ctx.users.delete(user._id));
      return reply.code(204).send();
    },
  );
}
