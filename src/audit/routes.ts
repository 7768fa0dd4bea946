import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tokenFrom } from '../identity/authenticator.ts';
import type { Principal } from '../identity/users.ts';
import type { AppContext } from '../server/context.ts';
import type { RouteRegistrar } from '../server/routes.ts';
import {
  AuditError,
  DEFAULT_LIMIT,
  distinctValues,
  getInterception,
  listInterceptions,
  MAX_LIMIT,
  type Page,
  type ResolvedQuery,
} from './list.ts';
import { parseQuery, type Validation } from './query.ts';

/** Coder's AI Bridge base and its 2026 name, AI Gateway: both answer (SPEC §4). */
const BASES = ['/api/v2/aibridge', '/api/v2/ai-gateway'];

const seesEveryone = (p: Principal) => p.user.role === 'owner' || p.user.role === 'auditor';

async function principalOf(ctx: AppContext, request: FastifyRequest): Promise<Principal> {
  const token = tokenFrom(request.headers);
  if (!token) {
    throw new AuditError(401, 'missing session token: send Authorization: Bearer, Coder-Session-Token or X-Api-Key');
  }
  const principal = await ctx.authenticator.authenticate(token);
  if (!principal) throw new AuditError(401, 'invalid or expired session token');
  return principal;
}

/**
 * Maps `initiator` to a user id. A member may only name themselves; anyone else is a 403
 * decided before any lookup, so members cannot probe which usernames exist.
 */
async function initiatorId(
  ctx: AppContext,
  principal: Principal,
  value: string | undefined,
): Promise<string | undefined> {
  const self = principal.user;
  const isSelf = value === 'me' || value === self._id || value === self.username;
  if (!seesEveryone(principal)) {
    if (value !== undefined && !isSelf) throw new AuditError(403, 'members can only see their own interceptions');
    return self._id;
  }
  if (value === undefined) return undefined;
  if (isSelf) return self._id;
  const user = await ctx.users.resolve(value);
  if (!user)
    throw new AuditError(400, 'invalid query parameters', [{ field: 'initiator', detail: `no user "${value}"` }]);
  return user._id;
}

/** Query-string parameters arrive as a string, an array (repeated) or not at all. */
function single(query: Record<string, unknown>, name: string, problems: Validation[]): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  problems.push({ field: name, detail: `"${name}" must be given once` });
  return undefined;
}

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

/** Everything about a list/picker request that can be checked before touching the data. */
async function readQuery(ctx: AppContext, principal: Principal, raw: Record<string, unknown>) {
  const problems: Validation[] = [];
  const q = single(raw, 'q', problems) ?? '';
  const { query, validations } = parseQuery(q);
  problems.push(...validations);
  const limit = integer(single(raw, 'limit', problems), 'limit', 1, MAX_LIMIT, problems) ?? DEFAULT_LIMIT;
  const offset = integer(single(raw, 'offset', problems), 'offset', 0, Number.MAX_SAFE_INTEGER, problems);
  const afterId = single(raw, 'after_id', problems);
  if (afterId !== undefined && offset !== undefined) {
    problems.push({ field: 'after_id', detail: 'after_id cannot be combined with offset' });
  }
  if (problems.length) throw new AuditError(400, 'invalid query parameters', problems);
  const { initiator, ...rest } = query;
  const resolved: ResolvedQuery = { ...rest, initiatorId: await initiatorId(ctx, principal, initiator) };
  const page: Page = { limit, offset, afterId };
  return { resolved, page };
}

async function answer(reply: FastifyReply, work: () => Promise<unknown>) {
  try {
    return reply.code(200).send(await work());
  } catch (err) {
    if (!(err instanceof AuditError)) throw err;
    const body = err.validations ? { message: err.message, validations: err.validations } : { message: err.message };
    return reply.code(err.status).send(body);
  }
}

/**
 * The audit API. `/models` and `/clients` list the distinct values seen (narrowed by an optional
 * `q`) for filter pickers. `GET .../interceptions/{id}` answers 404 for an interception the caller may
 * not see, exactly as for one that does not exist, so ids of others' work are not confirmed.
 */
export const auditRoutes: RouteRegistrar = (app, ctx) => {
  for (const base of BASES) auditRoutesAt(base, app, ctx);
};

function auditRoutesAt(BASE: string, app: FastifyInstance, ctx: AppContext): void {
  const db = () => ctx.store.db;

  app.get(`${BASE}/interceptions`, (request, reply) =>
    answer(reply, async () => {
      const principal = await principalOf(ctx, request);
      const { resolved, page } = await readQuery(ctx, principal, request.query as Record<string, unknown>);
      return listInterceptions(db(), resolved, page);
    }),
  );

  app.get<{ Params: { id: string } }>(`${BASE}/interceptions/:id`, (request, reply) =>
    answer(reply, async () => {
      const principal = await principalOf(ctx, request);
      const visible: ResolvedQuery = seesEveryone(principal) ? {} : { initiatorId: principal.user._id };
      const found = await getInterception(db(), visible, request.params.id);
      if (!found) throw new AuditError(404, `no interception "${request.params.id}"`);
      return found;
    }),
  );

  for (const field of ['model', 'client'] as const) {
    app.get(`${BASE}/${field}s`, (request, reply) =>
      answer(reply, async () => {
        const principal = await principalOf(ctx, request);
        const { resolved } = await readQuery(ctx, principal, request.query as Record<string, unknown>);
        return distinctValues(db(), field, resolved);
      }),
    );
  }
}
