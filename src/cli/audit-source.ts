import { toFilter } from '../audit/filter.ts';
import type { ApiList } from '../audit/present.ts';
import { parseQuery } from '../audit/query.ts';
import { type UsageReport, usageReport } from '../audit/usage-report.ts';
import { Users } from '../identity/users.ts';
import { openStore } from '../store/open.ts';
import { type InterceptionFilter, type Store, USAGE_KEYS, type UsageKey } from '../store/store.ts';
import { type ApiOptions, apiGet, checkApiOptions } from './api-client.ts';
import { ExitError, findCommandConfig } from './common.ts';
import { isRunning, readServerRecord } from './server-record.ts';

/** Where `interceptions list` and `usage` read: a bridge's audit API, or the store itself. */
export interface AuditSource {
  /** `api`, or `store`: the owner's view of everything, as `users` and `tokens` have it. */
  readonly kind: 'api' | 'store';
  /** One page of interceptions exactly as the audit API lists them. */
  page(q: string, limit: number | undefined, afterId: string | undefined): Promise<ApiList>;
  usage(q: string, groupBy: string | undefined): Promise<UsageReport>;
  close(): Promise<void>;
}

export interface SourceOptions {
  url?: string;
  token?: string;
  config?: string;
}

const DEFAULT_URL = 'http://127.0.0.1:4000';

const NOWHERE =
  'no session token, and no store here to read: pass --token (or set AIBRIDGE_SESSION_TOKEN) to ask a bridge, ' +
  'or run where its configuration is found (--config FILE; see README "Finding the configuration")';

function apiSource(opts: SourceOptions): AuditSource {
  const running = readServerRecord();
  const api: ApiOptions = {
    url: opts.url ?? (running && isRunning(running) ? running.url : DEFAULT_URL),
    token: opts.token,
  };
  checkApiOptions(api);
  return {
    kind: 'api',
    page: (q, limit, afterId) =>
      apiGet<ApiList>(api, '/interceptions', {
        q,
        limit: limit === undefined ? undefined : String(limit),
        after_id: afterId,
      }),
    usage: (q, groupBy) => apiGet<UsageReport>(api, '/usage', { q, group_by: groupBy }),
    close: async () => {},
  };
}

/** `q` as the store takes it; problems end the command as the API would refuse them (exit 2). */
async function storeFilter(store: Store, q: string): Promise<InterceptionFilter> {
  const { query, validations } = parseQuery(q);
  if (validations.length) throw new ExitError(validations.map((v) => `${v.field}: ${v.detail}`).join('; '), 2);
  const named = query.initiator;
  if (named === 'me') {
    throw new ExitError('initiator "me" names the caller of a bridge: pass --token, or name the user', 2);
  }
  const user = named === undefined ? undefined : await new Users(store).resolve(named);
  if (named !== undefined && !user) throw new ExitError(`no user "${named}"`);
  return toFilter(query, user?._id);
}

function storeSource(store: Store): AuditSource {
  const filters = new Map<string, Promise<InterceptionFilter>>();
  const filterOf = (q: string) => {
    const known = filters.get(q);
    if (known) return known;
    const filter = storeFilter(store, q);
    filters.set(q, filter);
    return filter;
  };
  return {
    kind: 'store',
    async page(q, limit, afterId) {
      const filter = await filterOf(q);
      const after = afterId === undefined ? undefined : await store.audit.cursor(filter, afterId);
      if (afterId !== undefined && !after) throw new ExitError(`no interception "${afterId}" in this result set`);
      const [results, count] = await Promise.all([
        store.audit.listJson(filter, { limit: limit ?? 100, after: after ?? undefined }),
        store.audit.count(filter),
      ]);
      return { count, results: JSON.parse(results) as ApiList['results'] };
    },
    async usage(q, groupBy) {
      const keys = (groupBy ? groupBy.split(',') : []).filter((k): k is UsageKey =>
        (USAGE_KEYS as readonly string[]).includes(k),
      );
      return usageReport(store, await filterOf(q), keys);
    },
    close: () => store.close(),
  };
}

/**
 * A bridge's API when a URL or token is given (flags or AIBRIDGE_URL / AIBRIDGE_SESSION_TOKEN);
 * otherwise the store the configuration names, opened directly as `users` and `tokens` do, when
 * there is one to open (README "Finding the configuration"); otherwise exit 2 saying so.
 */
export async function openAuditSource(opts: SourceOptions): Promise<AuditSource> {
  if (opts.url !== undefined || opts.token !== undefined) return apiSource(opts);
  const config = findCommandConfig(opts.config);
  if (!config) throw new ExitError(NOWHERE, 2);
  return storeSource(await openStore(config, 'admin'));
}
