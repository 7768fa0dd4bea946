import type { Collection, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';
import { DAY_MS, dayName, type InterceptionFilter, type UsageGroup, type UsageKey } from '../store.ts';
import { toMongoFilter } from './filter.ts';
import { sumByGroup } from './sums.ts';

const USAGE_FIELD: Record<Exclude<UsageKey, 'day'>, string> = {
  initiator: '$initiator_id',
  model: '$model',
  provider: '$provider',
  client: '$client',
};

/** Ended interceptions summed per group; by day, one grouping per UTC day in range. */
export async function usage(
  interceptions: Collection<InterceptionRecord>,
  filter: InterceptionFilter,
  groupBy: readonly UsageKey[],
): Promise<UsageGroup[]> {
  const keys = groupBy.filter((k): k is Exclude<UsageKey, 'day'> => k !== 'day');
  const match: Filter<InterceptionRecord> = { ...toMongoFilter(filter), ended_at: { $ne: null } };
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
  keys: ReadonlyArray<Exclude<UsageKey, 'day'>>,
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
