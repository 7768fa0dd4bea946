import type { FastifyInstance } from 'fastify';
import { parseRfc3339 } from '../../audit/query.ts';
import { type VerifyCursor, verifyChains } from '../../audit/verify.ts';
import type { AppContext } from '../context.ts';
import { principalOf, seesEveryone } from './auth.ts';
import { ApiError, guard, invalid, single, type Validation } from './errors.ts';
import { ref } from './schemas.ts';

/** Steps one request checks by default, and at most: the hashing runs on the event loop. */
const DEFAULT_STEPS = 2_000;
const MAX_STEPS = 10_000;

const CURSOR = /^([0-9a-f-]{36}):(\d{1,15}):([0-9a-f]{64}|)$/;

const cursorText = (c: VerifyCursor) => `${c.chain}:${c.seq}:${c.hash}`;

function readCursor(text: string, problems: Validation[]): VerifyCursor | undefined {
  const match = CURSOR.exec(text);
  if (!match) {
    problems.push({ field: 'after', detail: 'after must be the `next` of an earlier answer' });
    return undefined;
  }
  return { chain: match[1] as string, seq: Number(match[2]), hash: match[3] as string };
}

/**
 * `GET …/audit/verify` (README "Audit API"): the tamper-evident chain checked page by page,
 * for owners and auditors. Each answer checks at most `limit` steps and says where to go on.
 */
export function verifyRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Recompute the hash chain of the records, a page of steps at a time',
        querystring: {
          type: 'object',
          properties: {
            since: { type: 'string', description: 'RFC 3339: only from the first interceptions started since then' },
            after: { type: 'string', description: 'the `next` of the previous answer' },
            limit: { type: 'string', description: `steps to check, 1..${MAX_STEPS}, default ${DEFAULT_STEPS}` },
          },
        },
        response: {
          200: ref('AuditVerify'),
          400: ref('Error'),
          401: ref('Error'),
          403: ref('Error'),
          503: ref('Error'),
        },
      },
    },
    async (request) => {
      const principal = await principalOf(ctx, request);
      if (!seesEveryone(principal)) throw new ApiError(403, 'only owners and auditors can verify the records');
      const query = request.query as Record<string, unknown>;
      const problems: Validation[] = [];
      const sinceText = single(query, 'since', problems);
      const since = sinceText === undefined ? undefined : parseRfc3339(sinceText);
      if (sinceText !== undefined && !since)
        problems.push({ field: 'since', detail: 'since must be an RFC 3339 time' });
      const afterText = single(query, 'after', problems);
      const after = afterText === undefined ? undefined : readCursor(afterText, problems);
      const limitText = single(query, 'limit', problems);
      const limit = limitText === undefined ? DEFAULT_STEPS : /^\d+$/.test(limitText) ? Number(limitText) : 0;
      if (limit < 1 || limit > MAX_STEPS)
        problems.push({ field: 'limit', detail: `limit must be an integer from 1 to ${MAX_STEPS}` });
      if (problems.length) throw invalid(problems);
      const result = await guard(ctx, () => verifyChains(ctx.store.chain, { since, after, limit }));
      return {
        ok: result.problem === null,
        checked: result.checked,
        problem: result.problem,
        next: result.next ? cursorText(result.next) : null,
        chains: result.chains.map((c) => ({ ...c, started_at: c.started_at.toISOString() })),
      };
    },
  );
}
