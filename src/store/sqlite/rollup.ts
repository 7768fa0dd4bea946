import { DAY_MS, type InterceptionFilter } from '../store.ts';
import { filtersWork } from '../work.ts';

/**
 * Interceptions summed by UTC day: one row per day and combination of the keys an audit
 * filter or a usage summary names, kept in step with `interceptions` by triggers — so every
 * insert, end, purge or import, by this process or an admin command, moves it the same way.
 * A count or a usage summary over whole days then reads a few thousand of these rows instead
 * of every interception; the partial days at a range's ends are read from `interceptions`.
 */
const ROLLUP_KEYS = ['initiator_id', 'provider', 'provider_name', 'model', 'client', 'status'] as const;
const SUMS = [
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_write_input_tokens',
  'tool_calls',
] as const;

const TABLE = `CREATE TABLE IF NOT EXISTS usage_days (
  day INTEGER NOT NULL, ${ROLLUP_KEYS.map((k) => `${k} TEXT NOT NULL`).join(', ')},
  interceptions INTEGER NOT NULL, ${SUMS.map((s) => `${s} INTEGER NOT NULL`).join(', ')},
  cost_usd REAL NOT NULL, priced INTEGER NOT NULL,
  PRIMARY KEY (day, ${ROLLUP_KEYS.join(', ')})
) WITHOUT ROWID`;

const COLUMNS = ['day', ...ROLLUP_KEYS, 'interceptions', ...SUMS, 'cost_usd', 'priced'];

/** The UTC day number of an epoch-ms column (bound from JavaScript as a REAL, so cast). */
export const dayOf = (column: string) => `CAST(${column} / ${DAY_MS} AS INTEGER)`;

/** A running interception (status null) is summed under status ''. */
const rowValues = (row: 'NEW' | 'OLD', sign: '' | '-') => [
  dayOf(`${row}.started_at`),
  ...ROLLUP_KEYS.map((k) => (k === 'status' ? `ifnull(${row}.status, '')` : `${row}.${k}`)),
  `${sign}1`,
  ...SUMS.map((s) => `${sign}ifnull(${row}.${s}, 0)`),
  `${sign}ifnull(${row}.cost_usd, 0)`,
  `${sign}(${row}.cost_usd IS NOT NULL)`,
];

const ADD = ['interceptions', ...SUMS, 'cost_usd', 'priced'].map((c) => `${c} = ${c} + excluded.${c}`).join(', ');

const upsert = (row: 'NEW' | 'OLD', sign: '' | '-') =>
  `INSERT INTO usage_days (${COLUMNS.join(', ')}) VALUES (${rowValues(row, sign).join(', ')})
     ON CONFLICT DO UPDATE SET ${ADD};`;

/** The table and its triggers (idempotent). */
export const ROLLUP_STATEMENTS = [
  TABLE,
  `CREATE TRIGGER IF NOT EXISTS usage_days_insert AFTER INSERT ON interceptions BEGIN ${upsert('NEW', '')} END`,
  `CREATE TRIGGER IF NOT EXISTS usage_days_delete AFTER DELETE ON interceptions BEGIN ${upsert('OLD', '-')} END`,
  `CREATE TRIGGER IF NOT EXISTS usage_days_update AFTER UPDATE ON interceptions BEGIN
     ${upsert('OLD', '-')} ${upsert('NEW', '')} END`,
];

/** Fills the table from the interceptions already there (a store written before it existed). */
export const ROLLUP_BACKFILL = `INSERT INTO usage_days (${COLUMNS.join(', ')})
  SELECT ${dayOf('started_at')}, ${ROLLUP_KEYS.map((k) => (k === 'status' ? "ifnull(status, '')" : k)).join(', ')},
    count(*), ${SUMS.map((s) => `total(ifnull(${s}, 0))`).join(', ')}, total(cost_usd), count(cost_usd)
  FROM interceptions GROUP BY 1, ${ROLLUP_KEYS.map((_, i) => i + 2).join(', ')}`;

/** Rows a purge summed down to nothing (days up to the cutoff's: a range of the primary key). */
export const ROLLUP_PRUNE = 'DELETE FROM usage_days WHERE day <= ? AND interceptions = 0';

export interface DaySplit {
  /** Whole days (inclusive day numbers) read from usage_days; null bounds are open. */
  days: { first: number | null; last: number | null };
  /** The partial days at the ends, as filters over interceptions. */
  edges: InterceptionFilter[];
}

/**
 * Splits a filter's time range into whole days and the rest; null when usage_days cannot
 * answer it (a session, tool or work-context filter, or a range that holds no whole day).
 */
export function splitByDays(filter: InterceptionFilter): DaySplit | null {
  if (filter.client_session_id !== undefined || filter.tool !== undefined || filtersWork(filter)) return null;
  const since = filter.started_after?.getTime(); // started_at > since
  const until = filter.started_before?.getTime(); // started_at < until
  const first = since === undefined ? null : Math.floor(since / DAY_MS) + 1;
  const last = until === undefined ? null : Math.floor(until / DAY_MS) - 1;
  if (first !== null && last !== null && first > last) return null;
  const edges: InterceptionFilter[] = [];
  if (first !== null) edges.push({ ...filter, started_before: new Date(first * DAY_MS) });
  // started_at > (start of the day after the last whole one) - 1 ms: from that day's start on.
  if (last !== null) edges.push({ ...filter, started_after: new Date((last + 1) * DAY_MS - 1) });
  return { days: { first, last }, edges };
}
