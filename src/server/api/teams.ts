import type { FastifyInstance, FastifyRequest } from 'fastify';
import { budgetWindow } from '../../budgets/window.ts';
import { NoSuchTeam } from '../../identity/teams.ts';
import { IdentityError, type Principal } from '../../identity/users.ts';
import { apiUsd } from '../../store/figures.ts';
import type { Budget, TeamDoc } from '../../store/store.ts';
import type { AppContext } from '../context.ts';
import { principalOf, requireOwner } from './auth.ts';
import { ApiError, guard } from './errors.ts';
import { ref } from './schemas.ts';

type Params = { team: string };

/** Store work whose refusals (a name taken, a team managed by single sign-on) are 409, an unknown team 404. */
function run<T>(ctx: AppContext, work: () => Promise<T>): Promise<T> {
  return guard(ctx, () =>
    work().catch((err) => {
      if (err instanceof NoSuchTeam) throw new ApiError(404, err.message);
      if (err instanceof IdentityError) throw new ApiError(409, err.message);
      throw err;
    }),
  );
}

/** The teams a caller may see: every team for owners and auditors, an auditor limited to teams those, a member their own. */
async function visibleTeams(ctx: AppContext, principal: Principal): Promise<TeamDoc[]> {
  const { user } = principal;
  const all = await ctx.teams.list();
  if (user.role === 'owner') return all;
  if (user.role === 'auditor' && !user.audit_teams?.length) return all;
  const mine = new Set((await ctx.teams.teamsOf(user._id)).map((t) => t._id));
  const scope = new Set(user.role === 'auditor' ? user.audit_teams : []);
  return all.filter((t) => mine.has(t._id) || scope.has(t._id));
}

/** The team a path names, if the caller may see it (404 otherwise, as for one that does not exist). */
async function visibleTeam(ctx: AppContext, principal: Principal, name: string): Promise<TeamDoc> {
  const team = await ctx.teams.resolve(name);
  if (team && (await visibleTeams(ctx, principal)).some((t) => t._id === team._id)) return team;
  throw new ApiError(404, `no team "${name}"`);
}

/** A team's budget and spend in its current period (its members' spend, as the team is now). */
async function spendOf(ctx: AppContext, team: TeamDoc) {
  const budget = ctx.budgets.teamBudgetOf(team);
  const window = budgetWindow(budget?.period ?? 'month', new Date());
  const spent = await ctx.budgets.recordedSpend({ kind: 'team', id: team._id }, window.start);
  return {
    budget,
    spent_usd: apiUsd(spent) ?? 0,
    period_start: window.start.toISOString(),
    resets_at: window.resetsAt.toISOString(),
  };
}

const presentTeam = (team: TeamDoc, members: number) => ({
  id: team._id,
  name: team.name,
  sso: team.sso,
  budget: team.budget,
  members,
  created_at: team.created_at.toISOString(),
});

const errors = { 400: ref('Error'), 401: ref('Error'), 403: ref('Error'), 404: ref('Error'), 503: ref('Error') };
const teamParams = { type: 'object', properties: { team: { type: 'string', description: 'team name or id' } } };

/**
 * Teams over HTTP (README "Teams"): owners create and delete them, set their budgets and add or
 * remove members (not of a team single sign-on manages: its members follow their groups);
 * everyone else reads the teams they may see.
 */
export function teamRoutes(app: FastifyInstance, ctx: AppContext): void {
  const caller = (request: FastifyRequest) => principalOf(ctx, request);
  const counts = async (teams: TeamDoc[]) => {
    const members = await ctx.store.teams.members({ team_ids: teams.map((t) => t._id) });
    const n = new Map<string, number>();
    for (const m of members) n.set(m.team_id, (n.get(m.team_id) ?? 0) + 1);
    return (id: string) => n.get(id) ?? 0;
  };

  app.get(
    '/teams',
    { schema: { tags: ['teams'], summary: 'List teams', response: { 200: ref('TeamList'), ...errors } } },
    async (request) => {
      const principal = await caller(request);
      return run(ctx, async () => {
        const teams = await visibleTeams(ctx, principal);
        const count = await counts(teams);
        return { count: teams.length, results: teams.map((t) => presentTeam(t, count(t._id))) };
      });
    },
  );

  app.post<{ Body: { name: string; budget?: Budget | null } }>(
    '/teams',
    {
      schema: {
        tags: ['teams'],
        summary: 'Create a team (owners)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 256, description: 'unique, case-insensitively; no "' },
            budget: { anyOf: [ref('Budget'), { type: 'null' }] },
          },
        },
        response: { 201: ref('Team'), 409: ref('Error'), ...errors },
      },
    },
    async (request, reply) => {
      requireOwner(await caller(request));
      const team = await run(ctx, () => ctx.teams.create(request.body.name, { budget: request.body.budget ?? null }));
      return reply.code(201).send(presentTeam(team, 0));
    },
  );

  app.get<{ Params: Params }>(
    '/teams/:team',
    {
      schema: {
        tags: ['teams'],
        summary: 'One team with its members',
        params: teamParams,
        response: { 200: ref('TeamDetail'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(request);
      return run(ctx, async () => {
        const team = await visibleTeam(ctx, principal, request.params.team);
        const ids = await ctx.teams.memberIds([team._id]);
        const users = (await ctx.store.identity.usersByIds(ids)).sort((a, b) => a.username.localeCompare(b.username));
        return {
          ...presentTeam(team, users.length),
          member_list: users.map((u) => ({
            id: u._id,
            username: u.username,
            name: u.name,
            role: u.role,
            disabled: u.disabled_at !== null,
            deleted: u.deleted_at !== null,
          })),
        };
      });
    },
  );

  app.patch<{ Params: Params; Body: { budget: Budget | null } }>(
    '/teams/:team',
    {
      schema: {
        tags: ['teams'],
        summary: "Change a team's budget (owners); null: budgets.team applies",
        params: teamParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['budget'],
          properties: { budget: { anyOf: [ref('Budget'), { type: 'null' }] } },
        },
        response: { 200: ref('Team'), 409: ref('Error'), ...errors },
      },
    },
    async (request) => {
      requireOwner(await caller(request));
      return run(ctx, async () => {
        const team = await ctx.teams.setBudget(request.params.team, request.body.budget);
        return presentTeam(team, (await ctx.teams.memberIds([team._id])).length);
      });
    },
  );

  app.delete<{ Params: Params }>(
    '/teams/:team',
    {
      schema: {
        tags: ['teams'],
        summary: 'Delete a team (owners); its members stay, their records too',
        params: teamParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      requireOwner(await caller(request));
      await run(ctx, () => ctx.teams.delete(request.params.team));
      return reply.code(204).send();
    },
  );

  for (const [method, verb] of [
    ['put', 'Add'],
    ['delete', 'Remove'],
  ] as const) {
    app[method]<{ Params: Params & { user: string } }>(
      '/teams/:team/members/:user',
      {
        schema: {
          tags: ['teams'],
          summary: `${verb} a member (owners; not for a team single sign-on manages)`,
          response: { 204: { type: 'null' }, 409: ref('Error'), ...errors },
        },
      },
      async (request, reply) => {
        requireOwner(await caller(request));
        await run(ctx, async () => {
          const team = await ctx.teams.require(request.params.team);
          const user = await ctx.users.resolve(request.params.user);
          if (!user || user.deleted_at) throw new ApiError(404, `no user "${request.params.user}"`);
          const changed =
            method === 'put' ? await ctx.teams.add(team, user._id) : await ctx.teams.remove(team, user._id);
          if (!changed && method === 'delete') throw new ApiError(404, `${user.username} is not in ${team.name}`);
        });
        return reply.code(204).send();
      },
    );
  }

  app.get<{ Params: Params }>(
    '/teams/:team/spend',
    {
      schema: {
        tags: ['usage'],
        summary: "A team's spend in the current budget period: its members', as the team is now",
        params: teamParams,
        response: { 200: ref('Spend'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(request);
      return run(ctx, async () => spendOf(ctx, await visibleTeam(ctx, principal, request.params.team)));
    },
  );

  app.get(
    '/notifications',
    {
      schema: {
        tags: ['usage'],
        summary: 'Budget notifications of this period for the caller: their own, their teams’ (owners: every team’s)',
        response: { 200: ref('NotificationList'), ...errors },
      },
    },
    async (request) => {
      const principal = await caller(request);
      return run(ctx, async () => {
        const { user } = principal;
        const teams = user.role === 'owner' ? await ctx.teams.list() : await ctx.teams.teamsOf(user._id);
        const docs = await ctx.store.notifications.current([user._id, ...teams.map((t) => t._id)], new Date());
        return {
          count: docs.length,
          results: docs.map((d) => ({
            id: d._id,
            scope: d.scope,
            share: d.share,
            budget: d.budget,
            spent_usd: apiUsd(d.spent_usd) ?? 0,
            period_start: d.period_start.toISOString(),
            resets_at: d.resets_at.toISOString(),
            created_at: d.created_at.toISOString(),
          })),
        };
      });
    },
  );
}
