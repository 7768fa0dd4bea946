import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import type { InterceptionRecord } from '../recorder/records.ts';
import { CHILD_COLLECTIONS, COLLECTIONS } from '../store/mongo.ts';

const LEASE_ID = 'retention';

interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
}

export interface PurgeOptions {
  /** Who is purging, e.g. host:pid:uuid; written into the lease. */
  holder: string;
  /** Interceptions that started before this are deleted. */
  cutoff: Date;
  /** Interceptions per batch: bounds how long one delete holds the database. */
  batchSize?: number;
  /** Pause between batches, so requests and the recorder get the database and event loop. */
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

const isDuplicateKey = (err: unknown) => (err as { code?: number }).code === 11000;

/**
 * Takes (or renews) the lease when it is free, expired or already ours. The filter names the
 * `_id`, so when someone else holds a live lease the upsert's insert fails on the unique `_id`:
 * one atomic write decides, on MongoDB and FerretDB alike.
 */
export async function acquireLease(db: Db, holder: string, leaseMs: number, now = new Date()): Promise<boolean> {
  try {
    await db
      .collection<LeaseDoc>(COLLECTIONS.leases)
      .updateOne(
        { _id: LEASE_ID, $or: [{ until: { $lte: now } }, { holder }] },
        { $set: { holder, until: new Date(now.getTime() + leaseMs) } },
        { upsert: true },
      );
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** Lets the next run, on any replica, start at once instead of waiting out the lease. */
export async function releaseLease(db: Db, holder: string): Promise<void> {
  await db
    .collection<LeaseDoc>(COLLECTIONS.leases)
    .updateOne({ _id: LEASE_ID, holder }, { $set: { until: new Date(0) } });
}

/**
 * Deletes interceptions that started before `cutoff`, and all their children, batch by batch.
 * Children go first: a run cut short leaves a parent to retry, never an orphan.
 */
export async function purge(db: Db, options: PurgeOptions): Promise<PurgeRun> {
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
  if (!(await acquireLease(db, options.holder, leaseMs))) return run;
  run.ran = true;

  const interceptions = db.collection<InterceptionRecord>(COLLECTIONS.interceptions);
  let renewedAt = Date.now();
  try {
    while (!options.signal?.aborted) {
      const batch = await interceptions
        .find({ started_at: { $lt: options.cutoff } }, { projection: { _id: 1 } })
        .limit(batchSize)
        .toArray();
      if (batch.length === 0) break;
      const ids = batch.map((doc) => doc._id);
      for (const name of CHILD_COLLECTIONS) {
        const { deletedCount } = await db.collection(name).deleteMany({ interception_id: { $in: ids } });
        run.children[name] = (run.children[name] ?? 0) + deletedCount;
      }
      run.interceptions += (await interceptions.deleteMany({ _id: { $in: ids } })).deletedCount;
      run.batches++;
      if (batch.length < batchSize) break;
      if (Date.now() - renewedAt > leaseMs / 3) {
        // Lost the lease (e.g. this process stalled past it): stop, the new holder carries on.
        if (!(await acquireLease(db, options.holder, leaseMs))) break;
        renewedAt = Date.now();
      }
      await sleep(options.pauseMs ?? 20);
    }
  } finally {
    await releaseLease(db, options.holder).catch(() => {});
    run.durationMs = Date.now() - started;
  }
  return run;
}

export const childTotal = (run: PurgeRun) => Object.values(run.children).reduce((a, b) => a + b, 0);
