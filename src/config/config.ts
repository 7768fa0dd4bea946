import type { Role } from '../identity/users.ts';

import type { ProviderConfig } from '../providers/kind.ts';
import type { ProxyConfig } from '../proxy/config.ts';

export type { ProviderConfig, ProxyConfig };

/** The validated configuration; shapes mirror schemas/config.schema.json, which owns defaults. */

export interface McpServerConfig {
  name: string;
  url: string;
  headers: Record<string, string>;
  tool_allow_regex?: string;
  tool_deny_regex?: string;
  per_user_credentials: boolean;
  call_timeout: string;
  /** Largest answer to one request (bytes, or `512KiB` / `8MiB`). */
  max_response_bytes?: string | number;
  /** Tool definitions kept from this server, all pages together (bytes, or `512KiB` / `1MiB`). */
  max_tools_bytes?: string | number;
  /** Roles given this server's tools; absent = everyone. */
  allowed_roles?: Role[];
}

export interface RecordingConfig {
  /** Bytes, or `64KiB` / `1MiB`. */
  max_field_bytes: string | number;
  /** Extra redaction regexes (JS syntax, optional leading `(?i)`), checked at load. */
  redact: string[];
  /** New bridged requests while the journal cannot be written: 503, or served (README "Reliability"). */
  on_failure: 'refuse' | 'serve';
}

/** A `models:` entry: a model name clients send, and the provider + model pairs it stands for, in order. */
export interface ModelAlias {
  alias: string;
  targets: Array<{ provider: string; model: string }>;
}

/** A `pricing:` entry: USD per million tokens for a model name or `*`/`?` glob (SPEC §13). */
export interface PricingConfig {
  model: string;
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
  cache_write_1h?: number;
  max_output?: number;
}

/** `auth.oidc`: single sign-on with an OpenID Connect provider (README: Single sign-on). */
export interface OidcConfig {
  issuer: string;
  client_id: string;
  client_secret: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post';
  /** The console's callback URL as registered; absent = derived from the request. */
  redirect_url?: string;
  /** Absent = openid profile email, plus the groups claim's scope when the provider offers one. */
  scopes?: string[];
  groups_claim: string;
  /** Absent = preferred_username, else email. */
  username_claim?: string;
  /** Group → role; owner wins over auditor; everyone else is a member. */
  roles: { owner?: string[]; auditor?: string[] };
  /** When set, only members of one of these groups may sign in. */
  allowed_groups?: string[];
  clock_tolerance: string | number;
}

export type BudgetRole = 'owner' | 'auditor' | 'member';

export interface BudgetConfig {
  usd: number;
  period: 'day' | 'week' | 'month';
}

/** Settings every `audit_sinks` entry has (README "Audit sinks"). */
interface AuditSinkCommon {
  /** Names its checkpoint and metric label; default `<type>-<index>`. */
  name?: string;
  /** Bytes, or `512MiB` / `1GiB`. */
  max_backlog_bytes: string | number;
  retry_max: string;
}

export interface FileSinkConfig extends AuditSinkCommon {
  type: 'file';
  path: string;
  max_bytes: string | number;
  keep: number;
}

export interface SyslogSinkConfig extends AuditSinkCommon {
  type: 'syslog';
  /** `tcp://host:port`. */
  url: string;
  tls: boolean;
  /** A PEM file of certificates trusted instead of the system's. */
  ca?: string;
}

export interface WebhookSinkConfig extends AuditSinkCommon {
  type: 'webhook';
  url: string;
  headers: Record<string, string>;
  timeout: string;
}

export type AuditSinkConfig = FileSinkConfig | SyslogSinkConfig | WebhookSinkConfig;

export interface Config {
  listen: string;
  /** Re-read the file when it changes (SIGHUP always does). */
  watch_config: boolean;
  data_dir: string;
  mongodb: { uri: string; database: string };
  providers: ProviderConfig[];
  /** Aliases and fallbacks (README "Aliases and fallbacks"). */
  models: ModelAlias[];
  auth: { outage_grace: string | number; oidc?: OidcConfig };
  mcp_servers: McpServerConfig[];
  /** Injected tools per request, all servers together. */
  mcp: { max_tools: number };
  /** Work context (README "Work context"): `inject` offers annotate_work in every request too. */
  annotations: { inject: boolean };
  tool_loop: { max_iterations: number; parallelism: number; keepalive: string };
  recording: RecordingConfig;
  pricing: PricingConfig[];
  /** Default budget per role; a role without one is unlimited. */
  budgets: Partial<Record<BudgetRole, BudgetConfig>> & {
    /** A budgeted user's request for a model with no price: refused (default) or let through. */
    unpriced: 'refuse' | 'allow';
    /** Default budget of every team without its own; absent = teams are unlimited unless given one. */
    team?: BudgetConfig;
    /** Shares of a budget (0 < share ≤ 1) whose crossing notifies: log, metric, webhook, console banner. */
    notify?: number[];
    /** Where each notification is POSTed as JSON. */
    webhook?: string;
  };
  retention: string | number;
  audit_sinks: AuditSinkConfig[];
  /** The intercepting HTTPS proxy, when configured (README "Clients that cannot set a base URL"). */
  proxy?: ProxyConfig;
  tracing: { enabled: boolean; logs: boolean };
  limits: {
    body_bytes: number;
    max_concurrent_interceptions: number;
    upstream_timeout: string;
    user_requests_per_minute: number;
    max_header_bytes: number;
    breaker_threshold: number;
    breaker_cooldown: string;
    body_timeout: string;
    websocket_idle: string;
    max_model_labels: number;
    max_tool_labels: number;
  };
}
