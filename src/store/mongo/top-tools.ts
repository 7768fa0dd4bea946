import type { Db, Filter } from 'mongodb';
import type { InterceptionRecord, ToolUsageRecord } from '../records.ts';
import { COLLECTIONS, type Listed, type ToolSummary } from '../store.ts';
import { keyText } from './sums.ts';

/** No join in both servers: the newest 20 000 matching interceptions' ids, then one $group per sum. */
export async function topTools(db: Db, match: Filter<InterceptionRecord>, limit: number): Promise<Listed<ToolSummary>> {
  const ids = (
    await db
      .collection<InterceptionRecord>(COLLECTIONS.interceptions)
      .find(match, { projection: { _id: 1 } })
      .sort({ started_at: -1, _id: -1 })
      .limit(20_000)
      .toArray()
  ).map((d) => d._id);
  if (!ids.length) return { count: 0, results: [] };
  const usages = db.collection<ToolUsageRecord>(COLLECTIONS.toolUsages);
  const key = { tool: '$tool', server_url: '$server_url', server: '$metadata.server', injected: '$injected' };
  const sum = async (field: string, extra: Filter<ToolUsageRecord> = {}) =>
    usages
      .aggregate<{
        _id: { tool: string; server_url: string | null; server?: string | null; injected: boolean };
        v: number;
      }>([
        { $match: { interception_id: { $in: ids }, ...extra } },
        ...(field === '$one' ? [{ $set: { one: 1 } }] : []),
        { $group: { _id: key, v: { $sum: field } } },
      ])
      .toArray();
  const [calls, failed, duration, timed] = await Promise.all([
    sum('$one'),
    sum('$one', { invocation_error: { $ne: null } }),
    sum('$duration_ms'),
    sum('$one', { duration_ms: { $ne: null } }),
  ]);
  const of = (rows: typeof calls) => new Map(rows.map((r) => [keyText(r._id), r.v]));
  const [failedBy, durationBy, timedBy] = [of(failed), of(duration), of(timed)];
  const all = calls
    .map((r) => ({
      tool: r._id.tool,
      server_url: r._id.server_url ?? null,
      server: r._id.server ?? null,
      injected: r._id.injected === true,
      calls: r.v,
      failed: failedBy.get(keyText(r._id)) ?? 0,
      duration_ms: durationBy.get(keyText(r._id)) ?? 0,
      timed: timedBy.get(keyText(r._id)) ?? 0,
    }))
    .sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool));
  return { count: all.length, results: all.slice(0, limit) };
}
