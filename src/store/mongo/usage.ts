import type { Collection, Db, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';
import { COLLECTIONS, DAY_MS, dayName, type InterceptionFilter, type UsageGroup, type UsageKey } from '../store.ts';
import { both, toMongoFilter } from './filter.ts';
import { sumByGroup } from './sums.ts';
import { contextQuery, contexts, inContexts } from './work.ts';

type FieldKey = Exclude<UsageKey, 'day' | 'repo'>;

const USAGE_FIELD: Record<FieldKey, string> = {
  initiator: '$initiator_id',
  model: '$model',
  provider: '$provider',
  client: '$client',
};

/** Repos summed at once. */
const REPO_PARALLELISM = 4;

/**
 * Usage, by repo too: the store has no join, so the work contexts matching the filter are read
 * first, and each repo's interceptions (those of its sessions) are summed on their own; the
 * interceptions of no repo are the rest.
 */
export async function usageByRepo(
  db: Db,
  filter: InterceptionFilter,
  groupBy: readonly UsageKey[],
  work: Filter<InterceptionRecord> | undefined,
): Promise<UsageGroup[]> {
  const interceptions = db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
  if (!groupBy.includes('repo')) return usage(interceptions, filter, groupBy, work);
  const rest = groupBy.filter((k) => k !== 'repo');
  const found = await contexts(db, contextQuery(filter), ['repo']);
  const byRepo = new Map<string, typeof found>();
  for (const c of found) {
    if (c.repo === null || c.repo === undefined) continue;
    const list = byRepo.get(c.repo) ?? [];
    list.push(c);
    byRepo.set(c.repo, list);
  }
  const withRepo = found.filter((c) => c.repo !== null && c.repo !== undefined);
  const parts: Array<[string, Filter<InterceptionRecord>]> = [...byRepo].map(([repo, list]) => [
    repo,
    inContexts(list),
  ]);
  // A work filter keeps only its own sessions; without one, the interceptions of no repo are a group too.
  if (!work) parts.push(['', { $nor: [inContexts(withRepo)] }]);
  else {
    const without = found.filter((c) => c.repo === null || c.repo === undefined);
    if (without.length) parts.push(['', inContexts(without)]);
  }
  const groups: UsageGroup[] = [];
  for (let i = 0; i < parts.length; i += REPO_PARALLELISM) {
    const batch = await Promise.all(
      parts.slice(i, i + REPO_PARALLELISM).map(async ([repo, clause]) => {
        const sums = await usage(interceptions, filter, rest, clause);
        return sums.map((g) => ({
          ...g,
          key: Object.fromEntries(groupBy.map((k) => [k, k === 'repo' ? repo : g.key[k]])),
        }));
      }),
    );
    groups.push(...batch.flat());
  }
  return groups;
}

/** Ended interceptions summed per group; by day, one grouping per UTC day in range. */
async function usage(
  interceptions: Collection<InterceptionRecord>,
  filter: InterceptionFilter,
  groupBy: readonly UsageKey[],
  extra?: Filter<InterceptionRecord>,
): Promise<UsageGroup[]> {
  const keys = groupBy.filter((k): k is FieldKey => k !== 'day' && k !== 'repo');
  const base = toMongoFilter(filter);
  const match: Filter<InterceptionRecord> = both(extra ? both(base, extra) : base, { ended_at: { $ne: null } });
  if (!groupBy.includes('day')) return usageGroups(interceptions, match, keys);
  // No date operators to group by day with, in both servers: one $group per UTC day in range.
  const bound = (order: 1 | -1) =>
    interceptions.findOne(match, { sort: { started_at: order }, projection: { started_at: 1 } });
  const [first, last] = await Promise.all([bound(1), bound(-1)]);
  if (!first || !last) return [];
  const days: number[] = [];
  for (let day = Math.floor(first.started_at.getTime() / DAY_MS); day * DAY_MS <= last.started_at.getTime(); day++)
    days.push(day);
  const groups: UsageGroup[] = [];
  for (let i = 0; i < days.length; i += 8) {
    const batch = await Promise.all(
      days.slice(i, i + 8).map(async (day) => {
        const start = new Date(Math.max(day * DAY_MS, (filter.started_after?.getTime() ?? -1) + 1));
        const range = { $gte: start, $lt: new Date((day + 1) * DAY_MS) };
        const started = filter.started_before
          ? { ...range, $lt: new Date(Math.min((day + 1) * DAY_MS, filter.started_before.getTime())) }
          : range;
        const sums = await usageGroups(interceptions, { ...match, started_at: started }, keys);
        const label = dayName(day);
        return sums.map((g) => ({ ...g, key: { ...g.key, day: label } }));
      }),
    );
    groups.push(...batch.flat());
  }
  // Keep the caller's key order in each group's key.
  return groups.map((g) => ({ ...g, key: Object.fromEntries(groupBy.map((k) => [k, g.key[k] as string])) }));
}

async function usageGroups(
  interceptions: Collection<InterceptionRecord>,
  match: Filter<InterceptionRecord>,
  keys: ReadonlyArray<FieldKey>,
) {
  const spec = keys.length ? Object.fromEntries(keys.map((key) => [key, USAGE_FIELD[key]])) : null;
  const groups = await sumByGroup(interceptions, match, spec);
  return [...groups.values()]
    .filter((g) => g.sums.interceptions > 0)
    .map(
      ({ id, sums }): UsageGroup => ({
        key: Object.fromEntries(keys.map((k) => [k, String((id as Record<string, unknown> | null)?.[k] ?? '')])),
        interceptions: sums.interceptions,
        input_tokens: sums.input_tokens,
        output_tokens: sums.output_tokens,
        cache_read_input_tokens: sums.cache_read_input_tokens,
        cache_write_input_tokens: sums.cache_write_input_tokens,
        cost_usd: sums.priced > 0 ? sums.cost_usd : null,
        tool_calls: sums.tool_calls,
        failed: sums.failed,
      }),
    );
}
