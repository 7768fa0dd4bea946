import { setTimeout as sleep } from 'node:timers/promises';
import { CHILD_COLLECTIONS, type Store } from '../store/store.ts';

export const RETENTION_LEASE = 'retention';

export interface PurgeOptions {
  /** Who is purging, e.g. host:pid:uuid; written into the lease. */
  holder: string;
  /** Interceptions that started before this are deleted. */
  cutoff: Date;
  /** Interceptions per batch: bounds how long one delete holds the store. */
  batchSize?: number;
  /** Pause between batches, so requests and the recorder get the store and event loop. */
  pauseMs?: number;
  /** How long the lease lasts without renewal; renewed between batches. */
  leaseMs?: number;
  signal?: AbortSignal;
}

export interface PurgeRun {
  /** False when another holder had the lease, so this run did nothing. */
  ran: boolean;
  cutoff: Date;
  interceptions: number;
  /** Deleted documents per child collection. */
  children: Record<string, number>;
  batches: number;
  durationMs: number;
}

/**
 * Deletes interceptions that started before `cutoff`, and all their children, batch by
 * batch, while holding the retention lease (one replica at a time, README "Retention"). Each batch
 * deletes children first: a run cut short leaves a parent to retry, never an orphan.
 */
export async function purge(store: Store, options: PurgeOptions): Promise<PurgeRun> {
  const started = Date.now();
  const batchSize = options.batchSize ?? 500;
  const leaseMs = options.leaseMs ?? 120_000;
  const run: PurgeRun = {
    ran: false,
    cutoff: options.cutoff,
    interceptions: 0,
    children: {},
    batches: 0,
    durationMs: 0,
  };
  for (const name of CHILD_COLLECTIONS) run.children[name] = 0;
  if (!(await store.leases.acquire(RETENTION_LEASE, options.holder, leaseMs))) return run;
  run.ran = true;
  let renewedAt = Date.now();
  try {
    while (!options.signal?.aborted) {
      const batch = await store.records.purge(options.cutoff, batchSize);
      run.interceptions += batch.interceptions;
      for (const [name, n] of Object.entries(batch.children)) run.children[name] = (run.children[name] ?? 0) + n;
      if (batch.interceptions === 0) break;
      run.batches++;
      if (batch.interceptions < batchSize) break;
      if (Date.now() - renewedAt > leaseMs / 3) {
        // Lost the lease (e.g. this process stalled past it): stop, the new holder carries on.
        if (!(await store.leases.acquire(RETENTION_LEASE, options.holder, leaseMs))) break;
        renewedAt = Date.now();
      }
      await sleep(options.pauseMs ?? 20);
    }
  } finally {
    await store.leases.release(RETENTION_LEASE, options.holder).catch(() => {});
    run.durationMs = Date.now() - started;
  }
  return run;
}

export const childTotal = (run: PurgeRun) => Object.values(run.children).reduce((a, b) => a + b, 0);
