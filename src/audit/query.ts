/**
 * The `q` language of the audit API (README "Audit API"): space-separated `key:value` terms,
 * double quotes around anything with spaces, a bare term meaning `initiator`.
 */

export const QUERY_KEYS = [
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
] as const;
export type QueryKey = (typeof QUERY_KEYS)[number];

export interface Validation {
  field: string;
  detail: string;
}

export interface AuditQuery {
  /** `me`, a user id or a username, exactly as written; resolved by the caller. */
  initiator?: string;
  provider?: string;
  provider_name?: string;
  model?: string;
  client?: string;
  started_after?: Date;
  started_before?: Date;
  /** The agent's own session id (client_session_id). */
  session?: string;
  status?: 'completed' | 'failed' | 'running';
  /** A team's name or id: its members' interceptions (as the team is now). */
  team?: string;
  /** A tool the model called, by its recorded name (an MCP tool's own name, a client tool's). */
  tool?: string;
  /** The work context (README "Work context"): repo, branch, and a PR or issue URL or number. */
  repo?: string;
  branch?: string;
  pr?: string;
  issue?: string;
}

const STATUSES = ['completed', 'failed', 'running'] as const;

const TIME_KEYS = new Set<string>(['started_after', 'started_before']);
/** Keys whose values carry colons of their own: times, and URLs. */
const COLON_KEYS = new Set<string>([...TIME_KEYS, 'repo', 'pr', 'issue']);
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 date-time, rejecting impossible dates that `Date` would roll over. */
export function parseRfc3339(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  if (m[8] === undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const offsetMin = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000);
}

interface Term {
  text: string;
  /** Unquoted colon positions: only these separate a key from its value. */
  colons: number[];
}

/** Splits on unquoted whitespace and drops the quotes, remembering where the real colons were. */
function tokenize(q: string): { terms: Term[]; error?: string } {
  const terms: Term[] = [];
  let current: Term | undefined;
  let quoted = false;
  for (const ch of q) {
    if (ch === '"') {
      quoted = !quoted;
      current ??= { text: '', colons: [] };
    } else if (!quoted && /\s/.test(ch)) {
      if (current) terms.push(current);
      current = undefined;
    } else {
      current ??= { text: '', colons: [] };
      if (ch === ':' && !quoted) current.colons.push(current.text.length);
      current.text += ch;
    }
  }
  if (quoted) return { terms, error: 'has an unterminated double quote' };
  if (current) terms.push(current);
  return { terms };
}

function describeTerm(text: string): string {
  return JSON.stringify(text);
}

/** Parses `q` into a filter, or lists every problem found; an empty query matches everything. */
export function parseQuery(q: string): { query: AuditQuery; validations: Validation[] } {
  const query: AuditQuery = {};
  const validations: Validation[] = [];
  const { terms, error } = tokenize(q);
  if (error) return { query, validations: [{ field: 'q', detail: `query ${error}` }] };
  const seen = new Set<string>();

  for (const term of terms) {
    let key: string;
    let value: string;
    const first = term.colons[0];
    if (first === undefined) {
      key = 'initiator';
      value = term.text;
    } else {
      key = term.text.slice(0, first).toLowerCase();
      value = term.text.slice(first + 1);
      // Times and URLs carry colons of their own; anywhere else a second colon is a typo.
      if (term.colons.length > 1 && !COLON_KEYS.has(key)) {
        validations.push({ field: 'q', detail: `term ${describeTerm(term.text)} has more than one ":"` });
        continue;
      }
    }
    if (!key) {
      validations.push({ field: 'q', detail: `term ${describeTerm(term.text)} has an empty key` });
      continue;
    }
    if (!(QUERY_KEYS as readonly string[]).includes(key)) {
      validations.push({
        field: 'q',
        detail: `unknown key "${key}"; use one of ${QUERY_KEYS.join(', ')}`,
      });
      continue;
    }
    if (!value) {
      validations.push({ field: key, detail: `"${key}" has an empty value` });
      continue;
    }
    if (seen.has(key)) {
      validations.push({ field: key, detail: `"${key}" is given more than once` });
      continue;
    }
    seen.add(key);
    if (TIME_KEYS.has(key)) {
      const time = parseRfc3339(value);
      if (!time) {
        validations.push({ field: key, detail: `"${value}" is not an RFC 3339 time, e.g. 2025-01-31T13:45:00Z` });
        continue;
      }
      query[key as 'started_after' | 'started_before'] = time;
    } else if (key === 'status') {
      if (!(STATUSES as readonly string[]).includes(value)) {
        validations.push({ field: 'status', detail: `status must be one of ${STATUSES.join(', ')}` });
        continue;
      }
      query.status = value as AuditQuery['status'];
    } else {
      query[key as Exclude<QueryKey, 'started_after' | 'started_before' | 'status'>] = value;
    }
  }

  if (query.started_after && query.started_before && query.started_before <= query.started_after) {
    validations.push({ field: 'started_before', detail: 'started_before must be later than started_after' });
  }
  return { query, validations };
}

/** Writes one `q` term, quoting a value with spaces or colons; `q` has no escape for `"` itself. */
export function formatTerm(key: QueryKey, value: string): string {
  if (value.includes('"')) throw new Error(`${key} cannot contain a double quote`);
  return /[\s:]/.test(value) ? `${key}:"${value}"` : `${key}:${value}`;
}
