import { dayName, type InterceptionFilter, USAGE_COUNTS, type UsageGroup, type UsageKey } from '../store.ts';
import { filtersWork } from '../work.ts';
import { dayWhere, type SqlValue, where } from './filter.ts';
import { type DaySplit, dayOf, splitByDays } from './rollup.ts';

type Row = Record<string, SqlValue>;
type Query = (sql: string, params: SqlValue[]) => Row[];

/**
 * Interceptions by their filter keys whose index a usage scan should seek rather than read it all.
 * (Grouping by repo reads the rows themselves: the covering index has no sessions.)
 */
const SEEK_KEYS = ['initiator_id', 'initiator_ids', 'provider_name', 'client_session_id'] as const;

const GROUP_COLUMN: Record<UsageKey, string> = {
  initiator: 'initiator_id',
  model: 'model',
  provider: 'provider',
  client: 'client',
  // An integer day number (cheaper than strftime on every row), named in JS.
  day: dayOf('started_at'),
  // The work context's repo: the session's, or (without a session) the interception's own; '' for none.
  repo: `coalesce(
    (SELECT repo FROM work_contexts w WHERE w.initiator_id = interceptions.initiator_id
       AND w.client_session_id = interceptions.client_session_id),
    (SELECT repo FROM work_contexts w WHERE interceptions.client_session_id IS NULL
       AND w.interception_id = interceptions.id),
    '')`,
};

/** How many interceptions match: whole days from usage_days, the rest from interceptions. */
export function countInterceptions(query: Query, filter: InterceptionFilter): number {
  const split = splitByDays(filter);
  const rows = (edge: InterceptionFilter) => {
    const w = where(edge);
    return query(`SELECT count(*) AS n FROM interceptions ${w.sql}`, w.params)[0]?.n as number;
  };
  if (!split) return rows(filter);
  const w = dayWhere(filter, split.days);
  const days = query(`SELECT total(interceptions) AS n FROM usage_days ${w.sql}`, w.params)[0]?.n as number;
  return split.edges.reduce((n, edge) => n + rows(edge), days);
}

/** Ended interceptions summed per group, from usage_days where whole days allow. */
export function summarizeUsage(query: Query, filter: InterceptionFilter, groupBy: readonly UsageKey[]): UsageGroup[] {
  // usage_days knows no sessions, so no repos either.
  const split = groupBy.includes('repo') ? null : splitByDays(filter);
  const parts = split
    ? [fromDays(query, filter, split.days, groupBy), ...split.edges.map((edge) => fromRows(query, edge, groupBy))]
    : [fromRows(query, filter, groupBy)];
  return merge(parts.flat().filter((group) => group.interceptions > 0));
}

function fromRows(query: Query, filter: InterceptionFilter, groupBy: readonly UsageKey[]): UsageGroup[] {
  // status is set exactly when an interception has ended (and is in the covering index).
  const w = where(filter, undefined, ['status IS NOT NULL']);
  // Without an equality filter to seek on, read the covering index (the planner would
  // rather walk a group key's index to skip the sort, and read every document).
  const covered =
    !SEEK_KEYS.some((key) => filter[key] !== undefined) &&
    !groupBy.includes('repo') &&
    filter.tool === undefined &&
    !filtersWork(filter);
  const keys = groupBy.map((key, i) => `${GROUP_COLUMN[key]} AS k${i}`);
  const rows = query(
    `SELECT ${[...keys, ''].join(', ')}
       count(*) AS interceptions, total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens,
       total(cache_read_input_tokens) AS cache_read_input_tokens,
       total(cache_write_input_tokens) AS cache_write_input_tokens,
       sum(cost_usd) AS cost_usd, total(tool_calls) AS tool_calls, total(status = 'failed') AS failed
     FROM interceptions ${covered ? 'INDEXED BY interceptions_usage' : ''} ${w.sql}
     ${groupClause(groupBy)}`,
    w.params,
  );
  return rows.map((row) => toGroup(row, groupBy));
}

function fromDays(
  query: Query,
  filter: InterceptionFilter,
  days: DaySplit['days'],
  groupBy: readonly UsageKey[],
): UsageGroup[] {
  const w = dayWhere(filter, days, ["status <> ''"]);
  const keys = groupBy.map((key, i) => `${key === 'day' ? 'day' : GROUP_COLUMN[key]} AS k${i}`);
  const rows = query(
    `SELECT ${[...keys, ''].join(', ')}
       total(interceptions) AS interceptions, total(input_tokens) AS input_tokens,
       total(output_tokens) AS output_tokens, total(cache_read_input_tokens) AS cache_read_input_tokens,
       total(cache_write_input_tokens) AS cache_write_input_tokens,
       CASE WHEN total(priced) > 0 THEN total(cost_usd) END AS cost_usd, total(tool_calls) AS tool_calls,
       total(CASE WHEN status = 'failed' THEN interceptions ELSE 0 END) AS failed
     FROM usage_days ${w.sql} ${groupClause(groupBy)}`,
    w.params,
  );
  return rows.map((row) => toGroup(row, groupBy));
}

const groupClause = (groupBy: readonly UsageKey[]) =>
  groupBy.length ? `GROUP BY ${groupBy.map((_, i) => `k${i}`).join(', ')}` : '';

function toGroup(row: Row, groupBy: readonly UsageKey[]): UsageGroup {
  return {
    key: Object.fromEntries(
      groupBy.map((key, i) => [key, key === 'day' ? dayName(row[`k${i}`] as number) : String(row[`k${i}`])]),
    ),
    interceptions: row.interceptions as number,
    input_tokens: row.input_tokens as number,
    output_tokens: row.output_tokens as number,
    cache_read_input_tokens: row.cache_read_input_tokens as number,
    cache_write_input_tokens: row.cache_write_input_tokens as number,
    cost_usd: row.cost_usd as number | null,
    tool_calls: row.tool_calls as number,
    failed: row.failed as number,
  };
}

/** Groups of the same key from different parts added up (a null cost stays null only if all are). */
function merge(groups: UsageGroup[]): UsageGroup[] {
  const byKey = new Map<string, UsageGroup>();
  for (const group of groups) {
    const id = JSON.stringify(group.key);
    const into = byKey.get(id);
    if (!into) {
      byKey.set(id, { ...group });
      continue;
    }
    for (const field of USAGE_COUNTS) into[field] += group[field];
    if (group.cost_usd !== null) into.cost_usd = (into.cost_usd ?? 0) + group.cost_usd;
  }
  return [...byKey.values()];
}
