import { type ResolvedNames, toFilter } from '../audit/filter.ts';
import { parseQuery } from '../audit/query.ts';
import { GROUP_KEYS, type GroupKey, type UsageReport, usageReport } from '../audit/usage-report.ts';
import { Teams } from '../identity/teams.ts';
import { Users } from '../identity/users.ts';
import { openStore } from '../store/open.ts';
import type { ApiList } from '../store/present.ts';
import type { InterceptionFilter, Store } from '../store/store.ts';
import { type ApiOptions, apiGet, checkApiOptions, defaultBridgeUrl } from './api-client.ts';
import { ExitError, findCommandConfig, findConfig } from './common.ts';
import { savedToken } from './credentials.ts';

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

const NOWHERE =
  'no session token, and no store here to read: pass --token (or set AIBRIDGE_SESSION_TOKEN) or run aibridge login ' +
  'to ask a bridge, or run where its configuration is found (--config FILE; see README "Finding the configuration")';

function apiSource(opts: SourceOptions): AuditSource {
  const api: ApiOptions = { url: opts.url ?? defaultBridgeUrl(), token: opts.token };
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
  const names: ResolvedNames = {};
  const named = query.initiator;
  if (named === 'me') {
    throw new ExitError('initiator "me" names the caller of a bridge: pass --token, or name the user', 2);
  }
  if (named !== undefined) {
    const user = await new Users(store).resolve(named);
    if (!user) throw new ExitError(`no user "${named}"`);
    names.initiatorId = user._id;
  }
  if (query.team !== undefined) {
    const teams = new Teams(store);
    const team = await teams.resolve(query.team);
    if (!team) throw new ExitError(`no team "${query.team}"`);
    names.teamMembers = await teams.memberIds([team._id]);
  }
  return toFilter(query, names);
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
      const keys = (groupBy ? groupBy.split(',') : []).filter((k): k is GroupKey =>
        (GROUP_KEYS as readonly string[]).includes(k),
      );
      return usageReport(store, await filterOf(q), keys);
    },
    close: () => store.close(),
  };
}

/**
 * A bridge's API when a URL or token is given (flags or AIBRIDGE_URL / AIBRIDGE_SESSION_TOKEN),
 * or when `aibridge login` saved a token for the bridge running here (unless a configuration is
 * named: --config or AIBRIDGE_CONFIG); otherwise the store the configuration names, opened
 * directly as `users` and `tokens` do, when there is one to open (README "Finding the
 * configuration"); otherwise exit 2 saying so.
 */
export async function openAuditSource(opts: SourceOptions): Promise<AuditSource> {
  if (opts.url !== undefined || opts.token !== undefined) return apiSource(opts);
  const named = findConfig(opts.config).source;
  if (named !== 'flag' && named !== 'env') {
    const url = defaultBridgeUrl();
    const saved = savedToken(url);
    if (saved) return apiSource({ url, token: saved });
  }
  const config = findCommandConfig(opts.config);
  if (!config) throw new ExitError(NOWHERE, 2);
  return storeSource(await openStore(config, 'admin'));
}
