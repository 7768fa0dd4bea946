import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { Tally } from './tally.ts';

// What the metrics read of the parts they watch is declared here, as plain shapes: the parts
// stand above this ground floor, and where they are wired (src/server) a renamed or missing
// field, state or reason fails to compile.

/** The recorder's own figures (src/recorder/recorder.ts), copied at scrape time. */
export type RecorderFigures = Readonly<
  Record<
    'pending' | 'backlogBytes' | 'written' | 'journaled' | 'deadLettered' | 'dropped' | 'unrecorded' | 'journalErrors',
    number
  >
> & { readonly fromDisk: boolean };

/** One audit sink's figures (src/recorder/sinks/runner.ts). */
export interface SinkFigures {
  name: string;
  lag: number;
  delivered: number;
  errors: number;
  dropped: number;
}

/** A circuit's state (src/limits/circuit-breaker.ts). */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** A pooled key's health (src/providers/key-pool.ts): in turn, cooling down after a 429/5xx/timeout, or set aside after a 401/403. */
export type KeyState = 'active' | 'cooling' | 'refused';
const KEY_STATES: readonly KeyState[] = ['active', 'cooling', 'refused'];

/** Why a key pool left a key for the next one: the `reason` label of `aibridge_key_pool_failovers_total`. */
export type FailoverReason = 'rate_limited' | 'server_error' | 'timeout' | 'refused';

/** What a key pool reports to (its KeyPoolListener). */
export interface KeyPoolReports {
  failover: (reason: FailoverReason) => void;
  exhausted: () => void;
  setAside: (index: number, status: number) => void;
}

/** What the scrape-time gauges read; nothing on the request path touches them. */
export interface MetricSources {
  recorder(): RecorderFigures;
  /** Tool count per configured MCP server. */
  mcpServers(): Record<string, { tools: number }>;
  /** Every circuit the current providers keep (one per model they were asked for). */
  breakers(): Iterable<{ provider: string; model: string; state: BreakerState }>;
  /** Each configured audit sink's figures. */
  auditSinks?(): Iterable<SinkFigures>;
  /** How many keys of each provider's pool are in each state. */
  keyPools?(): Iterable<{ provider: string; counts: Record<KeyState, number> }>;
}

/** Why the bridge refused a request itself: a fixed set, so the label stays bounded. */
export type RefusalReason =
  | 'bad_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'too_large'
  | 'timeout'
  | 'rate_limited'
  | 'budget'
  | 'overloaded'
  | 'auth_unavailable'
  | 'not_configured'
  | 'circuit_open'
  | 'loop'
  | 'unrecordable';

/** The gauge value of each circuit state: the worse, the higher. */
const BREAKER_STATE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const BREAKER_STATES = Object.keys(BREAKER_STATE) as BreakerState[];

/** Labels are cut to this length, so a client sending absurd model or tool names cannot bloat a series. */
const MAX_LABEL = 128;
export const label = (value: string): string => (value.length > MAX_LABEL ? value.slice(0, MAX_LABEL) : value);

/**
 * A label whose values clients choose (model names, client tool names): the first `max` distinct
 * values keep their own series, later new ones are counted under `other`, so 2 000 invented
 * model names cost one series, not 2 000.
 */
export class BoundedLabel {
  static readonly OTHER = 'other';
  readonly #max: number;
  readonly #seen = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  value(raw: string): string {
    const value = label(raw);
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return BoundedLabel.OTHER;
    this.#seen.add(value);
    return value;
  }
}

export interface MetricsOptions {
  /** Distinct model names with their own label (limits.max_model_labels). */
  maxModelLabels?: number;
  /** Distinct client tool names with their own label (limits.max_tool_labels). */
  maxToolLabels?: number;
}

/**
 * Every Prometheus series README "Metrics" lists, on a registry of its own (those every interception
 * updates are tallied: summed per label set, handed to prom-client when read) (one per server, so
 * servers in one process, as in tests, never share counts). Labels are bounded: route is
 * the API route template, provider the configured name, status completed|failed|ok|error,
 * model and client tool names through `models` and `clientToolNames`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly models: BoundedLabel;
  readonly clientToolNames: BoundedLabel;
  readonly interceptions = new Tally('counter', {
    name: 'aibridge_interceptions_total',
    help: "Interceptions that ended, by outcome (key_source: the provider's key, or the user's own).",
    labelNames: ['provider', 'model', 'status', 'route', 'method', 'initiator_id', 'client', 'key_source'] as const,
    registers: [this.registry],
  });
  readonly inflight = new Tally('gauge', {
    name: 'aibridge_interceptions_inflight',
    help: 'Interceptions in progress.',
    labelNames: ['provider', 'model', 'route'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'aibridge_interceptions_duration_seconds',
    help: 'Wall time of an interception, tool calls and every upstream call included.',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly passthrough = new Counter({
    name: 'aibridge_passthrough_total',
    help: 'Requests forwarded to the provider unchanged.',
    labelNames: ['provider', 'route', 'method'] as const,
    registers: [this.registry],
  });
  readonly prompts = new Tally('counter', {
    name: 'aibridge_prompts_total',
    help: 'User prompts recorded.',
    labelNames: ['provider', 'model', 'initiator_id', 'client'] as const,
    registers: [this.registry],
  });
  readonly tokens = new Tally('counter', {
    name: 'aibridge_tokens_total',
    help: 'Tokens the provider reported, by type (input excludes cache reads and writes).',
    labelNames: ['provider', 'model', 'type', 'initiator_id', 'client'] as const,
    registers: [this.registry],
  });
  readonly injectedTools = new Counter({
    name: 'aibridge_injected_tool_invocations_total',
    help: 'Calls of injected MCP tools the bridge ran, by outcome.',
    labelNames: ['provider', 'model', 'server', 'name', 'status'] as const,
    registers: [this.registry],
  });
  readonly toolDuration = new Histogram({
    name: 'aibridge_injected_tool_duration_seconds',
    help: 'Duration of one injected MCP tool call.',
    labelNames: ['server', 'name'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly clientTools = new Counter({
    name: 'aibridge_non_injected_tool_selections_total',
    help: 'Calls of client-defined tools the model made (returned to the client).',
    labelNames: ['provider', 'model', 'name'] as const,
    registers: [this.registry],
  });
  readonly ttfb = new Histogram({
    name: 'aibridge_upstream_ttfb_seconds',
    help: 'Time from sending an upstream request to its response headers.',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly userInfo = new Tally('gauge', {
    name: 'aibridge_user_info',
    help: 'Always 1: maps initiator_id to username for dashboards.',
    labelNames: ['initiator_id', 'username'] as const,
    registers: [this.registry],
    aggregator: 'max', // under --workers, 1 whichever worker saw the user
  });
  readonly cost = new Tally('counter', {
    name: 'aibridge_cost_usd_total',
    help: "USD spent, from the price table and the tokens each upstream response reported (key_source: the provider's key, or the user's own).",
    labelNames: ['provider', 'model', 'client', 'key_source'] as const,
    registers: [this.registry],
  });
  readonly unpricedTokens = new Counter({
    name: 'aibridge_unpriced_tokens_total',
    help: 'Tokens of models with no price (their cost is recorded as null).',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'aibridge_refused_requests_total',
    help: 'Requests the bridge answered with an error itself, without asking the upstream, by reason (provider "none": a path of no provider).',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'aibridge_circuit_breaker_transitions_total',
    help: "Changes of a model's circuit state, by the state entered.",
    labelNames: ['provider', 'to'] as const,
    registers: [this.registry],
  });
  readonly budgetRejections = new Counter({
    name: 'aibridge_budget_rejections_total',
    help: 'Model requests refused because the user reached their budget.',
    labelNames: ['provider', 'period'] as const,
    registers: [this.registry],
  });
  readonly budgetNotifications = new Counter({
    name: 'aibridge_budget_notifications_total',
    help: 'Budget notifications sent: a user or team reached this share of its budget (once per period and share, across replicas).',
    labelNames: ['share'] as const,
    registers: [this.registry],
  });
  readonly retentionRuns = new Counter({
    name: 'aibridge_retention_runs_total',
    help: 'Retention purges this replica ran (while it held the lease).',
    registers: [this.registry],
  });
  readonly retentionPurged = new Counter({
    name: 'aibridge_retention_purged_documents_total',
    help: 'Documents deleted by retention, by collection.',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly websocketConnections = new Counter({
    name: 'aibridge_websocket_connections_total',
    help: 'Responses WebSocket upgrades the bridge accepted (Codex tries this transport first).',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly websocketsOpen = new Gauge({
    name: 'aibridge_websocket_connections_open',
    help: 'Responses WebSockets open now.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly websocketRequests = new Counter({
    name: 'aibridge_websocket_requests_total',
    help: 'response.create messages on Responses WebSockets, by input: warmup (generate: false, answered by the bridge: no upstream call, no interception), chained (only what is new since the last response), full.',
    labelNames: ['provider', 'input'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'aibridge_config_reloads_total',
    help: 'Configuration reloads (SIGHUP or a watched file change), applied (ok) or refused as invalid.',
    labelNames: ['result'] as const,
    registers: [this.registry],
    aggregator: 'max', // under --workers every worker reloads: one reload, not one per worker
  });
  readonly keyPoolFailovers = new Counter({
    name: 'aibridge_key_pool_failovers_total',
    help: 'Calls that left a pool key for the next one before anything reached the client, by why.',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly keyPoolExhaustions = new Counter({
    name: 'aibridge_key_pool_exhaustions_total',
    help: 'Calls refused because no key of the pool was left (all cooling down or set aside).',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'aibridge_fallbacks_total',
    help: 'Requests for an alias that went on to its next target (from and to: provider/model), by why the first one was left.',
    labelNames: ['alias', 'from', 'to', 'reason'] as const,
    registers: [this.registry],
  });
  #sources: MetricSources | undefined;

  constructor(options: MetricsOptions = {}) {
    this.models = new BoundedLabel(options.maxModelLabels ?? 100);
    this.clientToolNames = new BoundedLabel(options.maxToolLabels ?? 100);
    collectDefaultMetrics({ register: this.registry });
    const sources = () => this.#sources;
    new Gauge({
      name: 'aibridge_mcp_server_tools',
      help: 'Tools of each MCP server injected into requests (after the allow/deny filters, max_tools_bytes and mcp.max_tools).',
      labelNames: ['server'] as const,
      registers: [this.registry],
      aggregator: 'max', // every worker connects to every server

      collect() {
        this.reset();
        for (const [server, status] of Object.entries(sources()?.mcpServers() ?? {}))
          this.set({ server }, status.tools);
      },
    });
    const models = this.models;
    new Gauge({
      name: 'aibridge_circuit_breaker_state',
      help: "Each model's circuit: 0 closed, 1 half-open (one probe let through), 2 open (requests refused).",
      labelNames: ['provider', 'model'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        // Models past the label bound share `other`: it shows the worst of their circuits.
        const worst = new Map<string, { provider: string; model: string; value: number }>();
        for (const { provider, model, state } of sources()?.breakers() ?? []) {
          const labels = { provider, model: models.value(model) };
          const key = `${labels.provider}\n${labels.model}`;
          const value = Math.max(worst.get(key)?.value ?? 0, BREAKER_STATE[state]);
          worst.set(key, { ...labels, value });
        }
        for (const { value, ...labels } of worst.values()) this.set(labels, value);
      },
    });
    new Gauge({
      name: 'aibridge_key_pool_keys',
      help: "Keys of each provider's pool by state: active, cooling (after a 429/5xx/timeout) or refused (set aside after a 401/403 until a reload).",
      labelNames: ['provider', 'state'] as const,
      registers: [this.registry],
      aggregator: 'max', // each worker keeps its own pool's health: the most any one sees
      collect() {
        this.reset();
        for (const { provider, counts } of sources()?.keyPools?.() ?? [])
          for (const state of KEY_STATES) this.set({ provider, state }, counts[state]);
      },
    });
    new Gauge({
      name: 'aibridge_recorder_pending_records',
      help: 'Records not yet in the store (held until their interception ends, or queued).',
      registers: [this.registry],
      collect() {
        this.set(sources()?.recorder().pending ?? 0);
      },
    });
    new Gauge({
      name: 'aibridge_recorder_journal_pending',
      help: '1 while the store is behind and records are shipped from the on-disk journal.',
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.set(sources()?.recorder().fromDisk ? 1 : 0);
      },
    });
    new Gauge({
      name: 'aibridge_recorder_journal_backlog_bytes',
      help: 'Journal bytes the store has not taken yet.',
      registers: [this.registry],
      collect() {
        this.set(sources()?.recorder().backlogBytes ?? 0);
      },
    });
    // Counters kept by the recorder itself, copied at scrape time.
    for (const [name, help, key] of [
      ['aibridge_recorder_dropped_records_total', 'Records lost (even the journal could not take them).', 'dropped'],
      ['aibridge_recorder_written_records_total', 'Records written to the store.', 'written'],
      [
        'aibridge_recorder_journaled_records_total',
        'Records appended to the on-disk journal (all of them).',
        'journaled',
      ],
      [
        'aibridge_recorder_dead_letters_total',
        'Records the store refused for good, kept in data_dir/dead-letter.',
        'deadLettered',
      ],
      [
        'aibridge_recorder_journal_errors_total',
        'Journal appends that failed (disk full, no file handles).',
        'journalErrors',
      ],
      [
        'aibridge_unrecorded_interceptions_total',
        'Interceptions some of whose records were lost: the journal could not be written and memory was full.',
        'unrecorded',
      ],
    ] as const) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(sources()?.recorder()[key] ?? 0);
        },
      });
    }
    // Audit sinks keep their own figures, copied at scrape time (summed over workers, like their journals).
    for (const [name, help, key] of [
      ['aibridge_audit_sink_lag_records', 'Journaled records an audit sink has not been sent yet.', 'lag'],
      ['aibridge_audit_sink_errors_total', 'Failed deliveries to an audit sink (each is retried).', 'errors'],
      [
        'aibridge_audit_sink_delivered_total',
        'Events delivered to an audit sink (a resend counts again).',
        'delivered',
      ],
      [
        'aibridge_audit_sink_dropped_records_total',
        'Records an audit sink let go unsent: its backlog passed max_backlog_bytes.',
        'dropped',
      ],
    ] as const) {
      const Kind = key === 'lag' ? Gauge : Counter;
      new Kind({
        name,
        help,
        labelNames: ['sink'] as const,
        registers: [this.registry],
        collect(this: Counter<'sink'>) {
          this.reset();
          for (const stats of sources()?.auditSinks?.() ?? []) this.inc({ sink: stats.name }, stats[key]);
        },
      });
    }
  }

  /** Binds the scrape-time gauges to a server's state. */
  watch(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** Counts a request the bridge refused itself; `provider` is the configured name of the route's provider. */
  refusal(provider: string | undefined, reason: RefusalReason): void {
    this.refused.labels(provider ?? 'none', reason).inc();
  }

  /**
   * What a provider's key pool reports to: failovers and exhaustions are counted (each series
   * starts at 0), a key set aside goes to `setAside` (the log).
   */
  keyPoolListener(provider: string, setAside: KeyPoolReports['setAside']): KeyPoolReports {
    const reasons: FailoverReason[] = ['rate_limited', 'server_error', 'timeout', 'refused'];
    for (const reason of reasons) this.keyPoolFailovers.labels(provider, reason).inc(0);
    this.keyPoolExhaustions.labels(provider).inc(0);
    return {
      failover: (reason) => this.keyPoolFailovers.labels(provider, reason).inc(),
      exhausted: () => this.keyPoolExhaustions.labels(provider).inc(),
      setAside,
    };
  }

  /** What a provider's circuits report their changes to; every series starts at 0 so a first trip shows in increase(). */
  breakerListener(provider: string): (model: string, to: BreakerState) => void {
    for (const to of BREAKER_STATES) this.breakerTransitions.labels(provider, to).inc(0);
    return (_model, to) => this.breakerTransitions.labels(provider, to).inc();
  }
}
