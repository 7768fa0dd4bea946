import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import {
  applyGrant,
  applySettle,
  LedgerContendedError,
  type LedgerState,
  type QuotaGrant,
  type QuotaLedger,
} from '../ledger.ts';
import { COLLECTIONS, type QuotaStore } from '../store.ts';
import { isDuplicate } from './errors.ts';

interface LedgerDoc extends LedgerState {
  /** `<key>#<version>`: each step inserts the next version, so a unique _id decides between racers. */
  _id: string;
  key: string;
  version: number;
  until: Date;
}

/** Versions sort as text. */
const versionId = (key: string, version: number) => `${key}#${String(version).padStart(12, '0')}`;

/** Attempts at one step before it is given up as too contended (the caller lets that one call through on what it knows). */
const ATTEMPTS = 40;
/**
 * The longest pause after a lost race, in ms: racers that retried at once could keep losing to
 * the same faster one; a random pause growing with the attempts (at most ~1 s in all) breaks that.
 */
const MAX_BACKOFF_MS = 50;

/**
 * Quota ledgers (limits/quota.ts). A conditional update is not atomic on every server the store
 * runs on (FerretDB evaluates an update's filter and writes in separate steps), but an insert of
 * a unique _id is: each step reads the newest version of a ledger and inserts the next one; of
 * racers, one insert wins and the others read again and retry. Versions are never deleted while
 * a slow racer could still try to insert one again (it would fork the ledger): `prune` removes
 * only versions long past their use.
 */
export class MongoQuotas implements QuotaStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #docs() {
    return this.#db.collection<LedgerDoc>(COLLECTIONS.quotaLedgers);
  }

  async grant(request: Parameters<QuotaLedger['grant']>[0]): Promise<QuotaGrant> {
    let grant: QuotaGrant | undefined;
    await this.#step(request.key, request.expiresAt, (current) => {
      const next = applyGrant(current, request);
      grant = next.grant;
      return next.state;
    });
    return grant as QuotaGrant;
  }

  async settle(request: Parameters<QuotaLedger['settle']>[0]): Promise<number> {
    let spent = 0;
    await this.#step(request.key, request.expiresAt, (current) => {
      const next = current ? applySettle(current, request) : null;
      spent = next?.spent ?? 0;
      return next;
    });
    return spent;
  }

  async prune(before: Date): Promise<number> {
    return (await this.#docs.deleteMany({ until: { $lt: before } })).deletedCount;
  }

  /** Reads the newest version, inserts the next with `change`'s result (null: nothing to write). */
  async #step(key: string, until: Date, change: (current: LedgerState | null) => LedgerState | null): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const [newest] = await this.#docs
        .find({ _id: { $gte: versionId(key, 0), $lte: versionId(key, 999_999_999_999) } })
        .sort({ _id: -1 })
        .limit(1)
        .toArray();
      const next = change(newest ? { spent: newest.spent, holds: newest.holds } : null);
      if (!next) return;
      const version = (newest?.version ?? 0) + 1;
      try {
        await this.#docs.insertOne({ _id: versionId(key, version), key, version, until, ...next });
      } catch (err) {
        if (!isDuplicate(err)) throw err;
        // Another process took this version: read it, decide again, after a pause of random length.
        await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
        continue;
      }
      return;
    }
    throw new LedgerContendedError(key);
  }
}
