import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/** Messages between the primary and its workers (besides prom-client's own). */
export const MESSAGES = {
  listening: 'aibridge:listening',
  metrics: 'aibridge:metrics',
  metricsReply: 'aibridge:metrics-reply',
} as const;

/** How the primary tells a worker which one it is. */
export const WORKER_ENV = { id: 'AIBRIDGE_WORKER_ID', count: 'AIBRIDGE_WORKER_COUNT' } as const;

export interface WorkerIdentity {
  /** 1…count, stable across restarts of the same slot: it names the worker's journal. */
  id: number;
  count: number;
}

/** Which worker this process is under `--workers`; undefined in a single process. */
export function workerIdentity(): WorkerIdentity | undefined {
  if (!cluster.isWorker) return undefined;
  return { id: Number(process.env[WORKER_ENV.id]), count: Number(process.env[WORKER_ENV.count]) };
}

/** Tells the primary this worker serves, at `url`. */
export function reportListening(url: string): void {
  process.send?.({ type: MESSAGES.listening, url });
}

let nextRequest = 0;
const waiting = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();

/**
 * Lets the primary read this worker's registry (prom-client answers its requests), and gives
 * the metrics of all workers, added up by the primary, for GET /metrics.
 */
export function clusterMetricsVia(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs prom-client's listener for the primary's requests
  process.on('message', (message: { type?: string; id?: number; text?: string; error?: string }) => {
    if (message?.type !== MESSAGES.metricsReply || message.id === undefined) return;
    const waiter = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.text ?? '');
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = nextRequest++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer for the metrics of all workers'));
      }, 10_000);
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      process.send?.({ type: MESSAGES.metrics, id });
    });
}
