import type { ChainFields } from './chain.ts';
import { apiUsd, totalInput } from './figures.ts';
import type { AnnotationRecord, InterceptionRecord, ToolUsageRecord } from './records.ts';
import type { InterceptionDetail, WorkContext } from './store.ts';

type Iso = string;

/** A child record as the API shows it: `id` for `_id`, times as RFC 3339. */
type ApiChild<T extends { _id: string; created_at: Date }> = Omit<T, '_id' | 'created_at' | 'chain_prior'> & {
  id: string;
  created_at: Iso;
};

/** A tool usage as the API shows it: the client result's fields always present (null until a result came). */
type ApiToolUsage = Omit<ApiChild<ToolUsageRecord>, 'initiator_id' | 'result_at'> & {
  is_error: boolean | null;
  result_at: Iso | null;
  result_interception_id: string | null;
};

/** An interception's work context as the API shows it (README "Work context"). */
export interface ApiWork {
  repo: string | null;
  branch: string | null;
  pr_urls: string[];
  issue_urls: string[];
  updated_at: Iso;
}

export interface ApiInterception {
  id: string;
  initiator: { id: string; username: string | null; name: string | null };
  api_key_id: string;
  provider: string;
  provider_name: string;
  model: string;
  client: string;
  client_session_id: string | null;
  user_agent: string | null;
  status: InterceptionRecord['status'];
  cost_usd: number | null;
  metadata: Record<string, unknown>;
  started_at: Iso;
  ended_at: Iso | null;
  /** Each with `total_input_tokens` (README "Token figures"). */
  token_usages: Array<ApiChild<InterceptionDetail['token_usages'][number]> & { total_input_tokens: number }>;
  user_prompts: ApiChild<InterceptionDetail['user_prompts'][number]>[];
  tool_usages: ApiToolUsage[];
  model_thoughts: ApiChild<InterceptionDetail['model_thoughts'][number]>[];
  requested_model?: string;
  attempts?: InterceptionRecord['attempts'];
  key_source?: InterceptionRecord['key_source'];
  annotations: ApiChild<AnnotationRecord>[];
  work: ApiWork | null;
  chain?: string;
  seq?: number;
  hash?: string;
}

export interface ApiList {
  count: number;
  results: ApiInterception[];
}

/** Its place in the chain (README "Tamper evidence"): chain, seq and hash; not the steps it left. */
function chainOf(record: ChainFields): Pick<ChainFields, 'chain' | 'seq' | 'hash'> {
  return record.hash === undefined ? {} : { chain: record.chain, seq: record.seq, hash: record.hash };
}

function child<T extends { _id: string; created_at: Date } & ChainFields>({
  _id,
  created_at,
  chain_prior: _prior,
  ...fields
}: T): ApiChild<T> {
  return { id: _id, ...fields, created_at: created_at.toISOString() };
}

function toolUsage(usage: ToolUsageRecord): ApiToolUsage {
  // The initiator is the interception's: copied onto the record only to find a call by it.
  const { initiator_id: _initiator, result_at, is_error, result_interception_id, ...rest } = usage;
  return {
    ...child(rest),
    is_error: is_error ?? null,
    result_at: result_at ? result_at.toISOString() : null,
    result_interception_id: result_interception_id ?? null,
  };
}

function work(context: WorkContext | null): ApiWork | null {
  if (!context) return null;
  const { repo, branch, pr_urls, issue_urls, updated_at } = context;
  return { repo, branch, pr_urls, issue_urls, updated_at: updated_at.toISOString() };
}

/** One interception as the audit API returns it (README "Audit API"). */
export function present(detail: InterceptionDetail): ApiInterception {
  const r = detail.interception;
  return {
    id: r._id,
    initiator: {
      id: r.initiator_id,
      username: detail.initiator?.username ?? null,
      name: detail.initiator?.name ?? null,
    },
    api_key_id: r.api_key_id,
    provider: r.provider,
    provider_name: r.provider_name,
    model: r.model,
    client: r.client,
    client_session_id: r.client_session_id ?? null,
    user_agent: r.user_agent ?? null,
    status: r.status ?? null,
    cost_usd: apiUsd(r.cost_usd),
    metadata: r.metadata ?? {},
    started_at: r.started_at.toISOString(),
    ended_at: r.ended_at ? r.ended_at.toISOString() : null,
    token_usages: detail.token_usages.map((u) => {
      const { cost_usd, ...shown } = child(u);
      return { ...shown, total_input_tokens: totalInput(u), cost_usd: apiUsd(cost_usd) };
    }),
    user_prompts: detail.user_prompts.map(child),
    tool_usages: detail.tool_usages.map(toolUsage),
    model_thoughts: detail.model_thoughts.map(child),
    // Through an alias, a key pool or a user's own key: what was asked, each attempt, whose key.
    ...(r.requested_model !== undefined && {
      requested_model: r.requested_model,
      attempts: r.attempts ?? [],
      key_source: r.key_source ?? 'shared',
    }),
    annotations: (detail.annotations ?? []).map(child),
    work: work(detail.work ?? null),
    ...chainOf(r),
  };
}
