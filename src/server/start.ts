import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Budgets } from '../budgets/budgets.ts';
import { BudgetNotifier } from '../budgets/notifier.ts';
import { WebhookSender } from '../budgets/webhook.ts';
import type { Config } from '../config/config.ts';
import { parseDuration } from '../duration.ts';
import { Authenticator } from '../identity/authenticator.ts';
import { bootstrapOwner } from '../identity/bootstrap.ts';
import { StoreDirectory } from '../identity/sso-directory.ts';
import { Teams } from '../identity/teams.ts';
import { Users } from '../identity/users.ts';
import { ConcurrencyLimit, UserRateLimit } from '../limits/admission.ts';
import { Quotas } from '../limits/quota.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { PriceBook } from '../pricing/price-book.ts';
import { UserKeys } from '../providers/user-keys.ts';
import type { InterceptingProxy } from '../proxy/server.ts';
import { Journal } from '../recorder/journal.ts';
import { drainJournals, journalDir, orphanJournals } from '../recorder/journal-dirs.ts';
import { JournalRecorder } from '../recorder/recorder.ts';
import { sanitizerFor } from '../recorder/sanitize.ts';
import { startAuditSinks } from '../recorder/sinks/sinks.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { Annotator } from '../work-context/annotate.ts';
import { RecentInterceptions } from '../work-context/recent.ts';
import { buildApp } from './app.ts';
import { clusterMetricsVia, type WorkerIdentity } from './cluster/worker-channel.ts';
import type { AppContext } from './context.ts';
import { checkCanListenAll, listenError, splitListen } from './listen-error.ts';
import { buildProvider } from './providers.ts';
import { ConfigReloader, oidcClientFor, type ReloadResult } from './reload.ts';
import { Runtimes } from './runtime.ts';
import { SERVICES } from './services/index.ts';

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  ctx: AppContext;
  /** Set when this start created the first owner. */
  bootstrap?: { username: string; token: string };
  /** The intercepting proxy, when `proxy:` is configured. */
  proxy?: InterceptingProxy;
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

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** The port the server took (the configured one, or the free one port 0 found). */
function boundPort(app: FastifyInstance, configured: number): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : configured;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const { host, port } = splitListen(config.listen);
  const { worker } = options;
  // A worker shares the primary's listening socket: probing the port itself would find it taken.
  if (!worker) await checkCanListenAll(config);
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
    onSpent: (key, spent) => ctx.budgets.spentSeen(key, spent),
  });
  const teams = new Teams(store);
  const budgetLog = logger.child({ component: 'budgets' });
  const webhook = new WebhookSender({ log: budgetLog });
  const notifier = new BudgetNotifier({
    store: store.notifications,
    config: () => ctx.config,
    metrics,
    log: budgetLog,
    webhook,
  });
  const ssoLog = logger.child({ component: 'sso' });
  const ctx: AppContext = {
    config,
    store,
    users,
    teams,
    oidc: oidcClientFor(config, logger),
    directory: new StoreDirectory(store, teams, {
      onSkippedGroups: (groups) =>
        ssoLog.warn({ groups: groups.slice(0, 20) }, 'single sign-on: groups that cannot be team names were left out'),
    }),
    authenticator: new Authenticator(users, store, { outageGraceMs: parseDuration(config.auth.outage_grace) }, logger),
    logger,
    recorder: new JournalRecorder(store, logger.child({ component: 'recorder' }), {
      dataDir: config.data_dir,
      journal,
    }),
    auditSinks,
    prices: PriceBook.fromConfig(config.pricing),
    budgets: new Budgets(store, () => ctx.config, quotas, {
      teamsOf: (userId) => teams.cachedTeamsOf(userId),
      notifier,
      log: budgetLog,
    }),
    notifications: { notifier, webhook },
    userKeys: new UserKeys(store.providerKeys, {
      onUnreadable: (user, provider, err) =>
        logger.warn(
          { user_id: user, provider, err: err.message },
          "a user's own provider key cannot be opened (was AIBRIDGE_CREDENTIALS_KEY changed?); it is not used",
        ),
    }),
    metrics,
    providers: config.providers.map((p, i) => buildProvider(p, config.limits, i, metrics, logger)),
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
  for (const { name, keySetting: setting, hasKey, byok } of ctx.providers) {
    if (!hasKey)
      logger.warn(
        { provider: name, setting },
        byok === 'allowed'
          ? `provider "${name}" has no credentials (${setting}): requests of users without their own key are refused`
          : `provider "${name}" has no credentials (${setting}): its requests are refused`,
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
    await webhook.close();
    await draining;
    for (const service of services.reverse()) await service.stop().catch(() => {});
    await ctx.recorder.close();
    await auditSinks.stop(); // after the recorder journaled what it held
    await ctx.authenticator.close();
    await Promise.all(ctx.providers.map((p) => p.close().catch(() => {})));
    if (!options.store) await store.close().catch(() => {});
  };
  let app: FastifyInstance;
  let proxy: InterceptingProxy | undefined;
  try {
    // Users' own keys are sealed: without a sealing key a provider that takes them cannot start.
    if (ctx.providers.some((p) => p.byok !== 'off')) ctx.userKeys.ensureSealingKey();
    for (const start of SERVICES) services.push(await start(ctx));
    app = await buildApp(ctx);
    try {
      await app.listen({ host, port });
    } catch (err) {
      await app.close().catch(() => {});
      throw listenError(err, config.listen);
    }
    if (config.proxy) {
      // Loaded only when configured: the X.509 library is not needed otherwise.
      const { startProxy } = await import('./proxy.ts');
      try {
        proxy = await startProxy(ctx, app, config.proxy, hostPort(host, boundPort(app, port)));
      } catch (err) {
        await app.close().catch(() => {});
        throw err;
      }
      ctx.proxy = proxy;
    }
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  const url = `http://${hostPort(host, boundPort(app, port))}`;
  const reloader = new ConfigReloader(ctx, options.configFile);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await reloader.close();
      const drainMs = options.drainMs ?? 30_000;
      const drain = new Promise((r) => setTimeout(r, drainMs).unref());
      // The proxy's sessions are not the HTTP server's own connections: app.close() does not wait for them.
      await Promise.race([Promise.all([app.close(), proxy?.close(drainMs)]), drain]);
      await ctx.runtimes.closeRetired();
      await release();
    })();
    return closing;
  };
  return { url, app, ctx, bootstrap, proxy, reload: (trigger = 'reload') => reloader.reload(trigger), close };
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
