import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection, Db } from 'mongodb';
import { DuplicateError, type UserDoc, type UserPatch } from '../store.ts';
import { isDuplicate } from './errors.ts';

/** The log's collection: live coordination state, like leases, so `migrate` does not copy it. */
export const USER_CHANGES = 'user_changes';

/** One write to the users collection, as the log records it before it is made. */
export type UserChange = { op: 'create'; doc: UserDoc } | { op: 'update'; id: string; patch: UserPatch };

/** What a change decided, having read the users as every earlier change left them. */
export type Decision<T> = { change: UserChange; result: T } | { refused: T };

interface EntryDoc {
  /** `change#<version>` for an entry; `change#<version>~` once it is applied (sorts right after it). */
  _id: string;
  version: number;
  at: Date;
  /** Entries only. */
  change?: UserChange;
}

const entryId = (version: number) => `change#${String(version).padStart(12, '0')}`;
const appliedId = (version: number) => `${entryId(version)}~`;
const FIRST = entryId(0);
const LAST = appliedId(999_999_999_999);
/** At most one helper per version and window of `staleMs` completes a change its maker left. */
const repairId = (version: number, window: number) => `repair#${String(version).padStart(12, '0')}#${window}`;

export interface UserChangeLogOptions {
  /** How long an entry may stay unapplied before another process completes it (its maker presumed dead). */
  staleMs?: number;
  /** How long one change waits for the ones before it before giving up (the store is called busy). */
  deadlineMs?: number;
  /** Entries this far behind the newest are deleted (every tenth of it): no racer still holds a read that old. */
  keep?: number;
}

/**
 * Every write to the users collection, in one order, on MongoDB and FerretDB alike (README
 * "Users and tokens"). A change reads the users, decides (a username free in any case, an owner
 * left after a demotion), records its write as the log's next version — an insert of a unique
 * `_id`, the one compare-and-set both servers make atomic (FerretDB evaluates an update's filter
 * and writes the whole document in separate steps, so neither a conditional update nor two
 * concurrent updates of one user are safe there) — then makes the write and marks it applied.
 * Of racers for one version one insert wins; the others read again once it is applied and decide
 * anew. No version is written while the one before is unapplied, so a decision always reads the
 * users as every earlier change left them, and no two writes to users are ever in flight at once.
 *
 * A process that dies between recording and marking leaves its entry pending: the users are as
 * before it or as after it (both keep the rule), and every later change waits. After `staleMs` one
 * waiter completes the entry (it was decided on the same users it now meets, so it still keeps
 * the rule) and the log moves on; until then user changes wait (503 after `deadlineMs`), never
 * pass unchecked. Completing an entry whose maker was only slow, not dead, would let that maker's
 * write land late, over a later change to the same user: the maker's write is bounded by
 * `staleMs / 2`, so only a database holding a write longer than that after the client gave up
 * could see it.
 */
export class UserChangeLog {
  readonly #log: Collection<EntryDoc>;
  readonly #users: Collection<UserDoc>;
  readonly #staleMs: number;
  readonly #deadlineMs: number;
  readonly #keep: number;
  /** This process's changes take turns: only one of them at a time meets the other processes' at the log. */
  #turns: Promise<unknown> = Promise.resolve();

  constructor(db: Db, users: Collection<UserDoc>, options: UserChangeLogOptions = {}) {
    this.#log = db.collection<EntryDoc>(USER_CHANGES);
    this.#users = users;
    this.#staleMs = options.staleMs ?? 10_000;
    this.#deadlineMs = options.deadlineMs ?? 3 * this.#staleMs;
    this.#keep = options.keep ?? 1_000;
  }

  /**
   * Runs `decide` on the users as every earlier change left them, and makes the change it
   * returns as the log's next one; the result is the decision's. A create that meets a username
   * inserted outside the log (by `migrate`) throws DuplicateError.
   */
  run<T>(decide: () => Promise<Decision<T>>): Promise<T> {
    const started = Date.now();
    const turn = this.#turns.then(() => this.#run(decide, started));
    this.#turns = turn.catch(() => {});
    return turn;
  }

  async #run<T>(decide: () => Promise<Decision<T>>, started: number): Promise<T> {
    let waiting: { version: number; since: number; pause: number } | undefined;
    for (;;) {
      if (Date.now() - started > this.#deadlineMs) {
        throw new Error('changes to users are held up: an earlier change is still being made; try again');
      }
      const newest = await this.#newest();
      if (newest.pending) {
        if (waiting?.version !== newest.version) waiting = { version: newest.version, since: Date.now(), pause: 2 };
        const waited = Date.now() - waiting.since;
        if (waited >= this.#staleMs) await this.#complete(newest.pending, Math.floor(waited / this.#staleMs));
        else await sleep(waiting.pause * (0.5 + Math.random()));
        waiting.pause = Math.min(waiting.pause * 2, 50);
        continue;
      }
      const decision = await decide();
      if ('refused' in decision) return decision.refused;
      const version = newest.version + 1;
      try {
        await this.#log.insertOne({ _id: entryId(version), version, at: new Date(), change: decision.change });
      } catch (err) {
        if (isDuplicate(err)) continue; // another change took this version: decide again on what it leaves
        throw err;
      }
      const made = await this.#apply(decision.change, this.#staleMs / 2);
      await this.#markApplied(version);
      if (version % Math.max(1, Math.floor(this.#keep / 10)) === 0) await this.#prune(version);
      if (!made && decision.change.op === 'create') {
        throw new DuplicateError(`user "${decision.change.doc.username}" already exists`);
      }
      return decision.result;
    }
  }

  /** The newest version, and its entry when it is not applied yet (version 0: an empty log). */
  async #newest(): Promise<{ version: number; pending?: EntryDoc }> {
    const [doc] = await this.#log
      .find({ _id: { $gte: FIRST, $lte: LAST } })
      .sort({ _id: -1 })
      .limit(1)
      .toArray();
    if (!doc) return { version: 0 };
    return doc._id.endsWith('~') ? { version: doc.version } : { version: doc.version, pending: doc };
  }

  /** Makes an entry's write; false when a create met a user inserted outside the log. */
  async #apply(change: UserChange, timeoutMS: number): Promise<boolean> {
    if (change.op === 'update') {
      await this.#users.updateOne({ _id: change.id }, { $set: change.patch }, { timeoutMS });
      return true;
    }
    try {
      await this.#users.insertOne(change.doc, { timeoutMS });
      return true;
    } catch (err) {
      if (!isDuplicate(err)) throw err;
      // Its own id: made already (an earlier attempt); else its username, by an insert outside the log.
      return (await this.#users.findOne({ _id: change.doc._id }, { projection: { _id: 1 } })) !== null;
    }
  }

  async #markApplied(version: number): Promise<void> {
    try {
      await this.#log.insertOne({ _id: appliedId(version), version, at: new Date() });
    } catch (err) {
      if (!isDuplicate(err)) throw err;
    }
  }

  /** Completes an entry its maker left (the claim lets one waiter per window do it). */
  async #complete(entry: EntryDoc, window: number): Promise<void> {
    try {
      await this.#log.insertOne({ _id: repairId(entry.version, window), version: entry.version, at: new Date() });
    } catch (err) {
      if (!isDuplicate(err)) throw err;
      await sleep(20); // another waiter is completing it
      return;
    }
    if (entry.change) await this.#apply(entry.change, this.#staleMs / 2);
    await this.#markApplied(entry.version);
  }

  async #prune(version: number): Promise<void> {
    const before = version - this.#keep;
    if (before <= 0) return;
    await this.#log.deleteMany({ _id: { $gte: FIRST, $lt: entryId(before) } });
    await this.#log.deleteMany({ _id: { $gte: repairId(0, 0), $lt: repairId(before, 0) } });
  }
}
