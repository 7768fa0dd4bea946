import type { Collection, Filter } from 'mongodb';
import type { InterceptionRecord } from '../records.ts';

/** What a usage group sums, each as the field it adds up. */
const SUMMED = {
  interceptions: '$one',
  input_tokens: '$totals.input_tokens',
  output_tokens: '$totals.output_tokens',
  cache_read_input_tokens: '$totals.cache_read_input_tokens',
  cache_write_input_tokens: '$totals.cache_write_input_tokens',
  cost_usd: '$cost_usd',
  tool_calls: '$totals.tool_calls',
} as const;
type Summed = Record<keyof typeof SUMMED | 'priced' | 'failed', number>;

/** Group keys as `{name: '$field'}`; null groups everything together. */
export type GroupSpec = Record<string, string> | null;
export const keyText = (id: unknown) => JSON.stringify(id ?? {});

/**
 * Sums per group. FerretDB 1.24 computes only the first accumulator of a $group (later
 * ones come back 0) and has no $cond or $literal, so each sum is its own single-$sum
 * pipeline — all run at once — and counts sum a constant field set by $set.
 */
export async function sumByGroup(
  interceptions: Collection<InterceptionRecord>,
  match: Filter<InterceptionRecord>,
  spec: GroupSpec,
): Promise<Map<string, { id: unknown; sums: Summed }>> {
  const one = async (name: keyof Summed, field: string, extra: Filter<InterceptionRecord> = {}) => {
    const rows = await interceptions
      .aggregate<{ _id: unknown; v: number }>([
        // $and, not a merge: the caller's match may name the same field (status: 'completed').
        { $match: Object.keys(extra).length ? { $and: [match, extra] } : match },
        ...(field === '$one' ? [{ $set: { one: 1 } }] : []),
        { $group: { _id: spec, v: { $sum: field } } },
      ])
      .toArray();
    return rows.map((row) => ({ name, ...row }));
  };
  const results = await Promise.all([
    ...Object.entries(SUMMED).map(([name, field]) => one(name as keyof Summed, field)),
    one('priced', '$one', { cost_usd: { $ne: null } }),
    one('failed', '$one', { status: 'failed' }),
  ]);
  const groups = new Map<string, { id: unknown; sums: Summed }>();
  for (const row of results.flat()) {
    const key = keyText(row._id);
    let group = groups.get(key);
    if (!group) {
      const zero = Object.fromEntries([...Object.keys(SUMMED), 'priced', 'failed'].map((k) => [k, 0])) as Summed;
      group = { id: row._id, sums: zero };
      groups.set(key, group);
    }
    group.sums[row.name] = row.v;
  }
  return groups;
}
