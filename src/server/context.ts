import type { Budgets } from '../budgets/budgets.ts';
import type { BudgetNotifier } from '../budgets/notifier.ts';
import type { WebhookSender } from '../budgets/webhook.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { StoreDirectory } from '../identity/sso-directory.ts';
import type { Teams } from '../identity/teams.ts';
import type { Users } from '../identity/users.ts';
import type { Quotas } from '../limits/quota.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { UserKeys } from '../providers/user-keys.ts';
import type { ProxyPolicy } from '../proxy/server.ts';
import type { JournalRecorder } from '../recorder/recorder.ts';
import type { AuditSinks } from '../recorder/sinks/sinks.ts';
import type { Store } from '../store/store.ts';
import type { Annotator } from '../work-context/annotate.ts';
import type { RecentInterceptions } from '../work-context/recent.ts';
import type { WorkerIdentity } from './cluster/worker-channel.ts';
import type { Runtime, Runtimes } from './runtime.ts';

/**
 * Everything a route needs, built at start-up and passed down explicitly. A reload replaces the
 * Runtime it extends (config, OIDC, prices, providers, limits, mcp: runtime.ts) in one swap; a
 * provider request works on the ones current at its start.
 */
export interface AppContext extends Runtime {
  store: Store;
  users: Users;
  /** Teams and memberships (their budgets, auditors' scopes, single sign-on groups). */
  teams: Teams;
  authenticator: Authenticator;
  /** The store's users and teams as single sign-on creates and updates them. */
  directory: StoreDirectory;
  logger: Logger;
  recorder: JournalRecorder;
  /** Streams of every journaled record (audit_sinks). */
  auditSinks?: AuditSinks;
  budgets: Budgets;
  /** Budget notifications at `budgets.notify` shares, and the webhook they are POSTed to. */
  notifications: { notifier: BudgetNotifier; webhook: WebhookSender };
  /** Users' own provider keys (README "Bring your own key"). */
  userKeys: UserKeys;
  /** Limits shared by every worker and replica through the store: budgets and per-user rates. */
  quotas: Quotas;
  /** Prometheus series served on /metrics. */
  metrics: Metrics;
  /** Extra readiness facts (MCP servers, recorder) merged into /readyz. */
  readiness: Array<() => Record<string, unknown>>;
  /** Work context (README "Work context"): annotate_work, and each user's latest interception for `/mcp`. */
  work: { annotator: Annotator; recent: RecentInterceptions };
  /** The runtime new requests get, and the retired ones requests in flight still hold. */
  runtimes: Runtimes;
  /** The intercepting proxy, when `proxy:` is configured; a reload gives it new hosts and tunnel settings. */
  proxy?: { update(policy: ProxyPolicy): void };
  /** In a `--workers` process: which worker this is. */
  worker?: WorkerIdentity;
  /** In a `--workers` process: every worker's metrics, added up by the primary (GET /metrics). */
  clusterMetrics?: () => Promise<string>;
}
