import type { Collection, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';
import type { Listed, SessionSummary } from '../store.ts';
import { both } from './filter.ts';
import { keyText, sumByGroup } from './sums.ts';

/** Sessions matching, counted by one $group on (session, initiator) and a $count stage. */
async function countSessions(
  interceptions: Collection<InterceptionRecord>,
  match: Filter<InterceptionRecord>,
): Promise<number> {
  const [row] = await interceptions
    .aggregate<{ n: number }>(
      [{ $match: match }, { $group: { _id: { s: '$client_session_id', i: '$initiator_id' } } }, { $count: 'n' }],
      // One group per session: past MongoDB's 100 MB for a stage it spills to disk rather than fail.
      { allowDiskUse: true },
    )
    .toArray();
  return row?.n ?? 0;
}

/** Sessions by last activity, with how many match in all. */
export async function sessions(
  interceptions: Collection<InterceptionRecord>,
  filter: Filter<InterceptionRecord>,
  page: { limit: number; offset?: number },
): Promise<Listed<SessionSummary>> {
  const match = both(filter, { client_session_id: { $ne: null } });
  const [count, results] = await Promise.all([countSessions(interceptions, match), pageOf(interceptions, match, page)]);
  return { count, results };
}

/**
 * One page of sessions: walk the page-order index collecting distinct sessions (no $max
 * accumulator in both servers), then sum each one with $group.
 */
async function pageOf(
  interceptions: Collection<InterceptionRecord>,
  match: Filter<InterceptionRecord>,
  page: { limit: number; offset?: number },
): Promise<SessionSummary[]> {
  const wanted = (page.offset ?? 0) + page.limit;
  const seen = new Map<
    string,
    { session: string; initiator: string; client: string; last: Date; lastEnded: Date | null }
  >();
  const walk = interceptions
    .find(match, { projection: { client_session_id: 1, initiator_id: 1, client: 1, started_at: 1, ended_at: 1 } })
    .sort({ started_at: -1, _id: -1 })
    .limit(200_000)
    .batchSize(2_000);
  for await (const row of walk) {
    const key = `${row.client_session_id}\0${row.initiator_id}`;
    if (!seen.has(key))
      seen.set(key, {
        session: row.client_session_id as string,
        initiator: row.initiator_id,
        client: row.client,
        last: row.started_at,
        lastEnded: row.ended_at ?? null,
      });
    if (seen.size >= wanted) break;
  }
  await walk.close();
  const chosen = [...seen.values()].slice(page.offset ?? 0, wanted);
  if (!chosen.length) return [];
  const inPage = both(match, { client_session_id: { $in: chosen.map((c) => c.session) } });
  const [sums, firsts] = await Promise.all([
    sumByGroup(interceptions, inPage, { s: '$client_session_id', i: '$initiator_id' }),
    Promise.all(
      chosen.map((c) =>
        interceptions.findOne(both(match, { client_session_id: c.session, initiator_id: c.initiator }), {
          sort: { started_at: 1 },
          projection: { started_at: 1 },
        }),
      ),
    ),
  ]);
  return chosen.map((c, i) => {
    const total = sums.get(keyText({ s: c.session, i: c.initiator }))?.sums;
    return {
      client_session_id: c.session,
      initiator_id: c.initiator,
      client: c.client,
      first_started_at: firsts[i]?.started_at ?? c.last,
      last_started_at: c.last,
      last_ended_at: c.lastEnded,
      interceptions: total?.interceptions ?? 0,
      input_tokens: total?.input_tokens ?? 0,
      output_tokens: total?.output_tokens ?? 0,
      cache_read_input_tokens: total?.cache_read_input_tokens ?? 0,
      cache_write_input_tokens: total?.cache_write_input_tokens ?? 0,
      cost_usd: total && total.priced > 0 ? total.cost_usd : null,
    };
  });
}
