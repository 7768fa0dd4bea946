import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ResolvedNames, toFilter } from '../../audit/filter.ts';
import { type AuditQuery, parseQuery } from '../../audit/query.ts';
import { GROUP_KEYS, type GroupKey, initiatorNames, usageReport } from '../../audit/usage-report.ts';
import type { Principal } from '../../identity/users.ts';
import { apiUsd, withTotalInput } from '../../store/figures.ts';
import { present } from '../../store/present.ts';
import type { InterceptionFilter } from '../../store/store.ts';
import type { AppContext } from '../context.ts';
import { principalOf } from './auth.ts';
import { ApiError, guard, invalid, single, type Validation } from './errors.ts';
import { ref } from './schemas.ts';
import { outside, sees, type Visibility, visibilityOf, visibleFilter } from './visibility.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

type Raw = Record<string, unknown>;

function integer(text: string | undefined, field: string, min: number, max: number, problems: Validation[]) {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    problems.push({ field, detail: `${field} must be an integer ${range}` });
    return undefined;
  }
  return n;
}

/**
 * The `q` filter as the store takes it, within what the caller may see. A member may only name
 * themselves, and an auditor limited to teams only their members: anyone else is a 403 — for a
 * member decided before any lookup, so members cannot probe which usernames exist.
 */
async function filterOf(
  ctx: AppContext,
  principal: Principal,
  query: AuditQuery,
): Promise<{ filter: InterceptionFilter; visibility: Visibility }> {
  const { initiator, team } = query;
  const visibility = await visibilityOf(ctx, principal);
  const names: ResolvedNames = { visible: visibleFilter(visibility) };
  const self = principal.user;
  if (initiator !== undefined) {
    const isSelf = initiator === 'me' || initiator === self._id || initiator === self.username;
    if (!isSelf && self.role === 'member') throw outside(visibility);
    const user = isSelf ? self : await ctx.users.resolve(initiator);
    // An auditor limited to teams learns no more of a name that does not exist than of one outside them.
    if (!user)
      throw visibility.teams
        ? outside(visibility)
        : invalid([{ field: 'initiator', detail: `no user "${initiator}"` }]);
    if (!sees(visibility, user._id)) throw outside(visibility);
    names.initiatorId = user._id;
  }
  if (team !== undefined) {
    if (self.role === 'member') throw outside(visibility);
    const found = await ctx.teams.resolve(team);
    if (visibility.teams && (!found || !visibility.teams.includes(found._id))) throw outside(visibility);
    if (!found) throw invalid([{ field: 'team', detail: `no team "${team}"` }]);
    const members = await ctx.teams.memberIds([found._id]);
    names.teamMembers = members.filter((id) => sees(visibility, id));
  }
  return { filter: toFilter(query, names), visibility };
}

/** Everything about a list request that can be checked before touching the data. */
async function readRequest(
  ctx: AppContext,
  request: FastifyRequest,
  limits = { max: MAX_LIMIT, default: DEFAULT_LIMIT },
) {
  const principal = await principalOf(ctx, request);
  const raw = request.query as Raw;
  const problems: Validation[] = [];
  const { query, validations } = parseQuery(single(raw, 'q', problems) ?? '');
  problems.push(...validations);
  const limit = integer(single(raw, 'limit', problems), 'limit', 1, limits.max, problems) ?? limits.default;
  const offset = integer(single(raw, 'offset', problems), 'offset', 0, Number.MAX_SAFE_INTEGER, problems);
  const afterId = single(raw, 'after_id', problems);
  if (afterId !== undefined && offset !== undefined) {
    problems.push({ field: 'after_id', detail: 'after_id cannot be combined with offset' });
  }
  if (problems.length) throw invalid(problems);
  const { filter, visibility } = await guard(ctx, () => filterOf(ctx, principal, query));
  return { principal, filter, visibility, limit, offset, afterId, raw };
}

function readGroupBy(raw: Raw): GroupKey[] {
  const value = raw.group_by;
  const parts = (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .flatMap((v) => String(v).split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const problems = parts
    .filter((p) => !(GROUP_KEYS as readonly string[]).includes(p))
    .map((p) => ({ field: 'group_by', detail: `unknown key "${p}"; use ${GROUP_KEYS.join(', ')}` }));
  if (new Set(parts).size !== parts.length) problems.push({ field: 'group_by', detail: 'a key is given twice' });
  if (problems.length) throw invalid(problems);
  return parts as GroupKey[];
}

const listQuery = {
  type: 'object',
  properties: {
    q: { type: 'string', description: 'space-separated key:value terms (README "Audit API")' },
    limit: { type: 'string', description: `1..${MAX_LIMIT}, default ${DEFAULT_LIMIT}` },
    offset: { type: 'string' },
    after_id: { type: 'string', description: 'last id of the previous page' },
  },
};
const errors = { 400: ref('Error'), 401: ref('Error'), 403: ref('Error'), 503: ref('Error') };

/**
 * The audit API (README "Audit API", "Cost and budgets"): interceptions, pickers for filters, client sessions and usage
 * summaries, all with one visibility rule — owners and auditors see everyone, members themselves.
 * `GET …/interceptions/{id}` answers 404 for an interception the caller may not see, exactly as
 * for one that does not exist, so ids of others' work are not confirmed.
 */
export function auditRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/interceptions',
    {
      schema: {
        tags: ['audit'],
        summary: 'List interceptions, newest first',
        querystring: listQuery,
        response: { 200: ref('InterceptionList'), ...errors },
      },
    },
    async (request, reply) => {
      const { filter, limit, offset, afterId } = await readRequest(ctx, request);
      return guard(ctx, async () => {
        const after = afterId === undefined ? undefined : await ctx.store.audit.cursor(filter, afterId);
        if (afterId !== undefined && !after) {
          throw invalid(
            [{ field: 'after_id', detail: `no interception "${afterId}" in this result set` }],
            'invalid after_id',
          );
        }
        const [results, count] = await Promise.all([
          ctx.store.audit.listJson(filter, { limit, offset, after: after ?? undefined }),
          ctx.store.audit.count(filter),
        ]);
        // Built as text by the store (off the event loop for the embedded one): sent as it is.
        return reply.type('application/json; charset=utf-8').send(`{"count":${count},"results":${results}}`);
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/interceptions/:id',
    {
      schema: {
        tags: ['audit'],
        summary: 'One interception with everything recorded under it',
        response: { 200: ref('Interception'), 404: ref('Error'), ...errors },
      },
    },
    async (request) => {
      const principal = await principalOf(ctx, request);
      const visible = visibleFilter(await guard(ctx, () => visibilityOf(ctx, principal)));
      const found = await guard(ctx, () => ctx.store.audit.get(visible, request.params.id));
      if (!found) throw new ApiError(404, `no interception "${request.params.id}"`);
      return present(found);
    },
  );

  for (const field of ['model', 'client'] as const) {
    app.get(
      `/${field}s`,
      {
        schema: {
          tags: ['audit'],
          summary: `Distinct ${field}s seen, for filter pickers`,
          querystring: listQuery,
          response: { 200: ref('ValueList'), ...errors },
        },
      },
      async (request) => {
        const { filter } = await readRequest(ctx, request);
        const results = await guard(ctx, () => ctx.store.audit.distinct(field, filter));
        return { count: results.length, results };
      },
    );
  }

  app.get(
    '/sessions',
    {
      schema: {
        tags: ['audit'],
        summary: "Agents' sessions (client session ids), most recently active first",
        querystring: listQuery,
        response: { 200: ref('SessionList'), ...errors },
      },
    },
    async (request) => {
      const { filter, limit, offset } = await readRequest(ctx, request);
      return guard(ctx, async () => {
        const { count, results } = await ctx.store.audit.sessions(filter, { limit, offset });
        const name = await initiatorNames(
          ctx.store,
          results.map((s) => s.initiator_id),
        );
        return {
          count,
          results: results.map(({ initiator_id, first_started_at, last_started_at, last_ended_at, ...s }) => ({
            ...withTotalInput(s),
            cost_usd: apiUsd(s.cost_usd),
            initiator: name(initiator_id),
            first_started_at: first_started_at.toISOString(),
            last_started_at: last_started_at.toISOString(),
            last_ended_at: last_ended_at?.toISOString() ?? null,
          })),
        };
      });
    },
  );

  app.get(
    '/tools',
    {
      schema: {
        tags: ['usage'],
        summary: 'The tools models called most, injected and client-defined, with failures and mean duration',
        querystring: {
          type: 'object',
          properties: { q: listQuery.properties.q, limit: { type: 'string', description: '1..100, default 20' } },
        },
        response: { 200: ref('ToolList'), ...errors },
      },
    },
    async (request) => {
      const { filter, limit } = await readRequest(ctx, request, { max: 100, default: 20 });
      const { count, results } = await guard(ctx, () => ctx.store.audit.tools(filter, limit));
      return {
        count,
        results: results.map(({ duration_ms, timed, ...t }) => ({
          ...t,
          mean_duration_ms: timed ? duration_ms / timed : null,
        })),
      };
    },
  );

  app.get(
    '/usage',
    {
      schema: {
        tags: ['usage'],
        summary: 'Tokens, cost and tool calls summed by initiator, team, model, provider, client and/or day',
        querystring: {
          type: 'object',
          properties: {
            q: listQuery.properties.q,
            group_by: { type: 'string', description: `comma-separated: ${GROUP_KEYS.join(', ')}` },
          },
        },
        response: { 200: ref('Usage'), ...errors },
      },
    },
    async (request) => {
      const { filter, visibility, raw } = await readRequest(ctx, request);
      const groupBy = readGroupBy(raw);
      return guard(ctx, () =>
        usageReport(ctx.store, filter, groupBy, groupBy.includes('team') ? visibility.teams : null),
      );
    },
  );
}
