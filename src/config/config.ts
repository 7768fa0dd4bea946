import type { OidcConfig } from '../identity/oidc/config.ts';
import type { McpServerConfig } from '../mcp/types.ts';
import type { ProviderConfig } from '../providers/kind.ts';
import type { ProxyConfig } from '../proxy/config.ts';
import type { RecordingConfig } from '../recorder/sanitize.ts';
import type { AuditSinkConfig } from '../recorder/sinks/settings.ts';

// The sections whose checks live with the part that reads them are declared there too.
export type { AuditSinkConfig, McpServerConfig, OidcConfig, ProviderConfig, ProxyConfig, RecordingConfig };

/** A `models:` entry: a model name clients send, and the provider + model pairs it stands for, in order. */
export interface ModelAlias {
  alias: string;
  targets: Array<{ provider: string; model: string }>;
}

/** A `pricing:` entry: USD per million tokens for a model name or `*`/`?` glob (README "Cost and budgets"). */
export interface PricingConfig {
  model: string;
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
  cache_write_1h?: number;
  max_output?: number;
}
export type BudgetRole = 'owner' | 'auditor' | 'member';

export interface BudgetConfig {
  usd: number;
  period: 'day' | 'week' | 'month';
}

/** The validated configuration; shapes mirror schemas/config.schema.json, which owns defaults. */
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
