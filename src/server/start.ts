import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Budgets } from '../budgets/budgets.ts';
import type { Config } from '../config/config.ts';
import { parseDuration } from '../config/duration.ts';
import { Authenticator } from '../identity/authenticator.ts';
import { bootstrapOwner } from '../identity/bootstrap.ts';
import { Users } from '../identity/users.ts';
import { ConcurrencyLimit, UserRateLimit } from '../limits/admission.ts';
import { Quotas } from '../limits/quota.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { PriceBook } from '../pricing/price-book.ts';
import { Provider } from '../providers/provider.ts';
import { Journal } from '../recorder/journal.ts';
import { drainJournals, journalDir, orphanJournals } from '../recorder/journal-dirs.ts';
import { JournalRecorder } from '../recorder/recorder.ts';
import { sanitizerFor } from '../recorder/sanitize.ts';
import { startAuditSinks } from '../recorder/sinks/sinks.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { Annotator } from '../work/annotate.ts';
import { RecentInterceptions } from '../work/recent.ts';
import { buildApp } from './app.ts';
import { clusterMetricsVia, type WorkerIdentity } from './cluster/worker-channel.ts';
import type { AppContext } from './context.ts';
import { checkCanListen, listenError, splitListen } from './listen-error.ts';
import { ConfigReloader, type ReloadResult } from './reload.ts';
import { Runtimes } from './runtime.ts';
import { SERVICES } from './services/index.ts';

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  ctx: AppContext;
  /** Set when this start created the first owner. */
  bootstrap?: { username: string; token: string };
  /** Re-reads the configuration file (what SIGHUP does); new requests get the result. */
  reload(trigger?: string): Promise<ReloadResult>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** An already-open store (tests share one); otherwise opened from config and closed on close(). */
  store?: Store;
  /** Grace period for in-flight requests on shutdown. */
  drainMs?: number;
  /** The file `config` was loaded from: reload() and `watch_config` re-read it. */
  configFile?: string;
  /**
   * Set in a `--workers` process: its number (1…count) and the count. It journals in a directory
   * of its own, and leaves the listen probe and the first owner to the primary, which did both.
   */
  worker?: WorkerIdentity;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const { host, port } = splitListen(config.listen);
  const { worker } = options;
  // A worker shares the primary's listening socket: probing the port itself would find it taken.
  if (!worker) await checkCanListen(host, port, config.listen);
  const store = options.store ?? (await openStore(config, 'server'));
  logger.info({ store: store.kind, location: store.location }, 'store open');
  const users = new Users(store);
  const bootstrap = worker ? undefined : await bootstrapOwner(users);
  const ownJournal = journalDir(config.data_dir, worker?.id);
  // Audit sinks hold the journal's segments before the recorder can ship (and delete) them.
  const journal = new Journal(ownJournal);
  const auditSinks = startAuditSinks({
    journal,
    sinks: config.audit_sinks,
    log: logger.child({ component: 'audit-sinks' }),
    lookupInitiator: async (id) => (await store.audit.get({}, id))?.interception.initiator_id ?? null,
    worker: worker?.id,
  });

  const metrics = new Metrics({
    maxModelLabels: config.limits.max_model_labels,
    maxToolLabels: config.limits.max_tool_labels,
  });
  const quotas = new Quotas({
    ledger: store.quotas,
    holder: `${hostname()}:${process.pid}:${randomUUID()}`,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'limits: the store did not answer a quota step'),
  });
  const ctx: AppContext = {
    config,
    store,
    users,
    authenticator: new Authenticator(users, store, { outageGraceMs: parseDuration(config.auth.outage_grace) }, logger),
    logger,
    recorder: new JournalRecorder(store, logger.child({ component: 'recorder' }), {
      dataDir: config.data_dir,
      journal,
    }),
    auditSinks,
    prices: PriceBook.fromConfig(config.pricing),
    budgets: new Budgets(store, () => ctx.config, quotas),
    metrics,
    providers: config.providers.map((p, i) => new Provider(p, config.limits, i, metrics.breakerListener(p.name))),
    limits: {
      concurrency: new ConcurrencyLimit(config.limits.max_concurrent_interceptions, worker?.count),
      userRate: new UserRateLimit(config.limits.user_requests_per_minute, quotas),
    },
    work: workContext(() => ctx),
    readiness: worker ? [() => ({ worker: { id: worker.id, pid: process.pid } })] : [],
    worker,
    quotas,
    runtimes: new Runtimes(() => ctx),
  };
  if (worker) ctx.clusterMetrics = clusterMetricsVia(ctx.metrics.registry);
  for (const { name, keySetting: setting, hasKey } of ctx.providers) {
    if (!hasKey)
      logger.warn(
        { provider: name, setting },
        `provider "${name}" has no credentials (${setting}): its requests are refused`,
      );
  }
  const services: Array<{ stop(): Promise<void> }> = [];
  // Journals a run with another --workers left: the single process, or worker 1, ships them.
  const owned = worker
    ? Array.from({ length: worker.count }, (_, i) => journalDir(config.data_dir, i + 1))
    : [ownJournal];
  const orphans = !worker || worker.id === 1 ? orphanJournals(config.data_dir, owned) : [];
  const draining = drainJournals(store, logger.child({ component: 'recorder' }), config.data_dir, orphans).catch(
    (err) => logger.warn({ err }, 'recorder: shipping a journal another run left failed; it stays for the next start'),
  );
  // Everything opened so far, closed in reverse: a failed start must not leave anything keeping the process alive.
  const release = async () => {
    await quotas.close().catch(() => {});
    await draining;
    for (const service of services.reverse()) await service.stop().catch(() => {});
    await ctx.recorder.close();
    await auditSinks.stop(); // after the recorder journaled what it held
    await ctx.authenticator.close();
    await Promise.all(ctx.providers.map((p) => p.close().catch(() => {})));
    if (!options.store) await store.close().catch(() => {});
  };
  let app: FastifyInstance;
  try {
    for (const start of SERVICES) services.push(await start(ctx));
    app = await buildApp(ctx);
    try {
      await app.listen({ host, port });
    } catch (err) {
      await app.close().catch(() => {});
      throw listenError(err, config.listen);
    }
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  const reloader = new ConfigReloader(ctx, options.configFile);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await reloader.close();
      const drain = new Promise((r) => setTimeout(r, options.drainMs ?? 30_000).unref());
      await Promise.race([app.close(), drain]);
      await ctx.runtimes.closeRetired();
      await release();
    })();
    return closing;
  };
  return { url, app, ctx, bootstrap, reload: (trigger = 'reload') => reloader.reload(trigger), close };
}

/** annotate_work and what it needs: the recorder and sanitizer current when it runs, the store. */
function workContext(ctx: () => AppContext): AppContext['work'] {
  const recent = new RecentInterceptions();
  const annotator = new Annotator({
    recorder: { record: (op) => ctx().recorder.record(op) },
    sanitizer: () => sanitizerFor(ctx().config.recording),
    audit: {
      list: (filter, page) => ctx().store.audit.list(filter, page),
      get: (filter, id) => ctx().store.audit.get(filter, id),
      clientToolCall: (user, id, before) => ctx().store.audit.clientToolCall(user, id, before),
    },
    recent,
  });
  return { annotator, recent };
}
