import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../../config/config.ts';
import { bootstrapOwner } from '../../identity/bootstrap.ts';
import { Users } from '../../identity/users.ts';
import type { Logger } from '../../observability/logger.ts';
import { openStore } from '../../store/open.ts';
import { checkCanListenAll } from '../listen-error.ts';
import { RestartBackoff } from './restarts.ts';
import { MESSAGES, WORKER_ENV } from './worker-channel.ts';

export interface PrimaryOptions {
  config: Config;
  workers: number;
  logger: Logger;
  /** Once every worker serves for the first time: the URL, and the first owner's token on a first start. */
  onReady(url: string, bootstrap: { username: string; token: string } | undefined): void;
}

/** What the primary knows of one worker slot; a restarted worker takes the slot (and journal) of the one it replaces. */
interface Slot {
  id: number;
  worker: Worker | undefined;
  startedAt: number;
  listened: boolean;
  backoff: RestartBackoff;
  timer: NodeJS.Timeout | undefined;
}

/**
 * `aibridge server --workers N`: checks the address and creates the first owner once, then forks
 * N workers that share the listening port (each with its own store connection, journal and MCP
 * connections), forwards SIGTERM/SIGINT/SIGHUP to them, restarts one that dies (backing off),
 * answers their requests for the metrics of all of them, and resolves with the exit code once
 * every worker has exited after a shutdown. A worker that fails before serving fails the start.
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { config, workers: count, logger } = options;
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    worker: undefined,
    startedAt: 0,
    listened: false,
    backoff: new RestartBackoff(),
    timer: undefined,
  }));
  let stopping = false;
  let starting = true;
  let failed = false;
  let signals = 0;
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    done = resolve;
  });
  const live = () => slots.filter((s) => s.worker);
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const slot of slots) clearTimeout(slot.timer);
    for (const slot of live()) slot.worker?.process.kill(signal);
    if (!live().length) done(failed ? 1 : 0);
  };

  // Installed before anything else: a signal during the start must not kill the primary alone.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (++signals > 1) {
        for (const slot of live()) slot.worker?.process.kill('SIGKILL'); // a second one means now
        process.exit(130);
      }
      logger.info({ reason: signal }, 'shutting down');
      stop(signal);
    });
  }
  process.on('SIGHUP', () => {
    for (const slot of live()) slot.worker?.process.kill('SIGHUP');
  });

  await checkCanListenAll(config);
  const store = await openStore(config, 'admin');
  let bootstrap: Awaited<ReturnType<typeof bootstrapOwner>>;
  try {
    bootstrap = await bootstrapOwner(new Users(store));
  } finally {
    await store.close();
  }

  const aggregator = new AggregatorRegistry();
  const fork = (slot: Slot) => {
    slot.timer = undefined;
    slot.listened = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_ENV.id]: String(slot.id), [WORKER_ENV.count]: String(count) });
    slot.worker = worker;
    worker.on('message', (message: { type?: string; url?: string; id?: number }) => {
      if (message?.type === MESSAGES.listening) {
        slot.listened = true;
        if (starting && slots.every((s) => s.listened)) {
          starting = false;
          logger.info({ url: message.url, workers: count }, 'aibridge listening');
          options.onReady(message.url as string, bootstrap);
        }
      } else if (message?.type === MESSAGES.metrics) {
        const reply = (fields: { text?: string; error?: string }) => {
          if (worker.isConnected()) worker.send({ type: MESSAGES.metricsReply, id: message.id, ...fields });
        };
        aggregator.clusterMetrics().then(
          (text) => reply({ text }),
          (err: Error) => reply({ error: err.message }),
        );
      }
    });
    worker.on('exit', (code, signal) => {
      slot.worker = undefined;
      if (stopping) {
        if (code !== 0) failed = true;
        if (!live().length) done(failed ? 1 : 0);
        return;
      }
      if (starting && !slot.listened) {
        // It could not start (it said why on stderr): the others would not either.
        failed = true;
        logger.error({ worker: slot.id, code, signal }, 'a worker failed to start; stopping');
        stop('SIGTERM');
        return;
      }
      const delay = slot.backoff.next(Date.now() - slot.startedAt);
      logger.error({ worker: slot.id, pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'worker died');
      slot.timer = setTimeout(() => fork(slot), delay);
    });
  };

  if (!stopping) for (const slot of slots) fork(slot);
  return finished;
}
