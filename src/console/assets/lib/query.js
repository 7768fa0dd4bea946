// The audit API's `q` language (README "Audit API") as the console writes it.

export const KEYS = [
  'initiator',
  'provider',
  'provider_name',
  'model',
  'client',
  'started_after',
  'started_before',
  'session',
  'status',
  'team',
  'tool',
  'repo',
  'branch',
  'pr',
  'issue',
];

/** A value as one term: quoted when it holds spaces or colons (team names from groups may). */
export const quote = (value) => (/[\s":]/.test(value) ? `"${String(value).replaceAll('"', '')}"` : String(value));

/** `q` with `key` set to `value` (an existing term for the key is replaced; no value removes it). */
export function withTerm(q, key, value) {
  const kept = (q ?? '').match(/(?:[^\s"]+|"[^"]*")+/g)?.filter((t) => !t.startsWith(`${key}:`)) ?? [];
  if (value !== undefined && value !== null && value !== '') kept.push(`${key}:${quote(value)}`);
  return kept.join(' ');
}

export const RANGES = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

/**
 * A time range from the route's params: a preset (`range=7d`) or custom (`from`, `to` as
 * datetime-local values). Returns RFC 3339 bounds and a label.
 */
export function rangeOf(params, now = Date.now()) {
  const from = params.get('from');
  const to = params.get('to');
  if (from) {
    const start = new Date(from);
    const end = to ? new Date(to) : new Date(now);
    if (!Number.isNaN(start.getTime()) && !Number.isNaN(end.getTime()) && start < end) {
      return { key: 'custom', after: start.toISOString(), before: to ? end.toISOString() : undefined, end };
    }
  }
  const key = RANGES[params.get('range')] ? params.get('range') : '7d';
  return { key, after: new Date(now - RANGES[key]).toISOString(), before: undefined, end: new Date(now) };
}

/** The q terms of a range. */
export const rangeQuery = (range) =>
  withTerm(withTerm('', 'started_after', range.after), 'started_before', range.before);

/** Each UTC day from `after` to `end`, as the usage API keys days (YYYY-MM-DD). */
export function daysBetween(after, end) {
  const days = [];
  const d = new Date(`${after.slice(0, 10)}T00:00:00Z`);
  while (d <= end && days.length < 400) {
    days.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return days;
}
