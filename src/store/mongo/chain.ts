import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db, Document } from 'mongodb';
import {
  type ChainAnchorDoc,
  ChainCursor,
  type ChainHeadDoc,
  type ChainLinkDoc,
  firstSteps,
  purgedInto,
} from '../chain.ts';
import {
  type ChainEntry,
  type ChainState,
  type ChainStore,
  COLLECTIONS,
  RECORD_COLLECTIONS,
  type RecordCollection,
  timeFieldOf,
} from '../store.ts';
import { isDuplicate } from './errors.ts';

/** How many of the first interceptions since a time `firstSeqSince` looks at. */
const FIRST_INTERCEPTIONS = 100;

type Stored = Record<string, unknown> & { _id: string };

/**
 * This process's chain (chain.ts): started at its first write of a record, with a head of its
 * own that only it moves, so no other writer — replica, worker or run — ever shares it. The
 * records go first and the head after; a write cut short leaves steps past the head, which
 * verify accepts when they chain, and which the next write here starts after.
 */
export class MongoChainWriter {
  readonly #db: Db;
  readonly #id = randomUUID();
  #cursor: ChainCursor | undefined;
  /** False after a failed write: how far it got is read back from the records. */
  #known = false;

  constructor(db: Db) {
    this.#db = db;
  }

  async cursor(): Promise<ChainCursor> {
    if (!this.#cursor) {
      const now = new Date();
      const head: ChainHeadDoc = {
        _id: this.#id,
        seq: 0,
        hash: '',
        started_at: now,
        updated_at: now,
        writer: { store: 'mongodb', host: hostname(), pid: process.pid },
      };
      try {
        await this.#db.collection<ChainHeadDoc>(COLLECTIONS.chainHeads).insertOne(head);
      } catch (err) {
        if (!isDuplicate(err)) throw err; // an earlier try got it in before failing
      }
      this.#cursor = new ChainCursor(this.#id, 0, '');
      this.#known = true;
    }
    if (!this.#known) {
      const tip = await this.#tip();
      this.#cursor.rewind(tip.seq, tip.hash);
      this.#known = true;
    }
    return this.#cursor;
  }

  /** A write failed somewhere: the next one first reads where the chain really got. */
  lost(): void {
    this.#known = false;
  }

  async saveHead(cursor: ChainCursor): Promise<void> {
    await this.#db
      .collection<ChainHeadDoc>(COLLECTIONS.chainHeads)
      .updateOne({ _id: this.#id }, { $set: { seq: cursor.seq, hash: cursor.hash, updated_at: new Date() } });
  }

  /** The last step written: the head, or a record past it that a failed write left. */
  async #tip(): Promise<{ seq: number; hash: string }> {
    const head = await this.#db.collection<ChainHeadDoc>(COLLECTIONS.chainHeads).findOne({ _id: this.#id });
    let tip = { seq: head?.seq ?? 0, hash: head?.hash ?? '' };
    for (const collection of RECORD_COLLECTIONS) {
      const last = await this.#db
        .collection<Stored>(collection)
        .find({ chain: this.#id }, { projection: { seq: 1, hash: 1 } })
        .sort({ seq: -1 })
        .limit(1)
        .next();
      if (last && typeof last.seq === 'number' && last.seq > tip.seq) tip = { seq: last.seq, hash: String(last.hash) };
    }
    return tip;
  }
}

/**
 * Before records are purged: their steps, and the steps they had left, join their chains'
 * anchors. Written before the records are deleted, so a purge cut short leaves records inside
 * a purged range (verify skips them) rather than a gap no anchor explains.
 */
export function keepAnchors(db: Db, interceptionIds: string[]): Promise<void> {
  return anchorSteps(
    db,
    RECORD_COLLECTIONS.map((collection) => ({
      collection,
      filter: { [collection === COLLECTIONS.interceptions ? '_id' : 'interception_id']: { $in: interceptionIds } },
    })),
  );
}

/** The same for records picked otherwise (annotations made outside any interception). */
export async function anchorSteps(
  db: Db,
  picks: Array<{ collection: RecordCollection; filter: Record<string, unknown> }>,
): Promise<void> {
  const byChain = new Map<string, Array<{ seq: number; hash: string }>>();
  const add = (chain: unknown, seq: unknown, hash: unknown) => {
    if (typeof chain !== 'string' || typeof seq !== 'number' || typeof hash !== 'string') return;
    byChain.set(chain, [...(byChain.get(chain) ?? []), { seq, hash }]);
  };
  const leavers: string[] = [];
  for (const { collection, filter } of picks) {
    const docs = await db
      .collection<Stored>(collection)
      .find(filter as Document, { projection: { chain: 1, seq: 1, hash: 1, chain_prior: 1 } })
      .toArray();
    for (const doc of docs) {
      add(doc.chain, doc.seq, doc.hash);
      const prior = doc.chain_prior;
      if (!Array.isArray(prior)) continue;
      leavers.push(doc._id);
      for (const step of prior as Array<{ chain: string; seq: number; hash: string }>)
        add(step.chain, step.seq, step.hash);
    }
  }
  const anchors = db.collection<ChainAnchorDoc>(COLLECTIONS.chainAnchors);
  const now = new Date();
  for (const [chain, steps] of byChain) {
    const next = purgedInto(await anchors.findOne({ _id: chain }), chain, steps, now);
    await anchors.replaceOne({ _id: chain }, next, { upsert: true });
  }
  if (leavers.length)
    await db.collection<ChainLinkDoc>(COLLECTIONS.chainLinks).deleteMany({ record_id: { $in: leavers } });
}

/** The chains as verify reads them: each call one index range per collection. */
export class MongoChain implements ChainStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async chains(): Promise<ChainState[]> {
    const [heads, anchors] = await Promise.all([
      this.#db.collection<ChainHeadDoc>(COLLECTIONS.chainHeads).find().sort({ _id: 1 }).toArray(),
      this.#db.collection<ChainAnchorDoc>(COLLECTIONS.chainAnchors).find().toArray(),
    ]);
    const byId = new Map(anchors.map((a) => [a._id, a]));
    return heads.map((head) => ({ head, anchor: byId.get(head._id) ?? null }));
  }

  async nextChain(after: string): Promise<string | null> {
    let next: string | null = null;
    for (const collection of RECORD_COLLECTIONS) {
      const doc = await this.#db
        .collection<Stored>(collection)
        .find({ chain: { $gt: after } }, { projection: { chain: 1 } })
        .sort({ chain: 1 })
        .limit(1)
        .next();
      const found = doc?.chain;
      if (typeof found === 'string' && (next === null || found < next)) next = found;
    }
    return next;
  }

  async steps(chain: string, afterSeq: number, limit: number): Promise<ChainEntry[]> {
    const range = { chain, seq: { $gt: afterSeq } };
    const [links, ...perCollection] = await Promise.all([
      this.#db.collection<ChainLinkDoc>(COLLECTIONS.chainLinks).find(range).sort({ seq: 1 }).limit(limit).toArray(),
      ...RECORD_COLLECTIONS.map((collection) =>
        this.#db.collection<Stored>(collection).find(range).sort({ seq: 1 }).limit(limit).toArray(),
      ),
    ]);
    const entries: ChainEntry[] = [];
    RECORD_COLLECTIONS.forEach((collection, i) => {
      for (const record of perCollection[i] ?? [])
        entries.push({ kind: 'record', seq: record.seq as number, collection, record });
    });
    const leavers = await this.#records(links);
    for (const link of links)
      entries.push({
        kind: 'left',
        seq: link.seq,
        collection: link.collection,
        record_id: link.record_id,
        record: leavers.get(`${link.collection}/${link.record_id}`) ?? null,
      });
    entries.sort((a, b) => a.seq - b.seq || (a.kind === b.kind ? 0 : a.kind === 'record' ? -1 : 1));
    return firstSteps(entries, limit);
  }

  async firstSeqSince(chain: string, since: Date): Promise<number | null> {
    const docs = await this.#db
      .collection<Stored>(COLLECTIONS.interceptions)
      .find({ started_at: { $gte: since }, chain }, { projection: { seq: 1, chain_prior: 1 } })
      .sort({ started_at: 1 })
      .limit(FIRST_INTERCEPTIONS)
      .toArray();
    let first: number | null = null;
    const consider = (seq: unknown) => {
      if (typeof seq === 'number' && (first === null || seq < first)) first = seq;
    };
    for (const doc of docs) {
      consider(doc.seq);
      for (const step of (doc.chain_prior ?? []) as Array<{ chain: string; seq: number }>)
        if (step.chain === chain) consider(step.seq);
    }
    return first;
  }

  async unchained(since: Date, limit: number): Promise<Array<{ collection: string; _id: string }>> {
    const found: Array<{ collection: string; _id: string }> = [];
    for (const collection of RECORD_COLLECTIONS) {
      if (found.length >= limit) break;
      const docs = await this.#db
        .collection<Stored>(collection)
        .find({ chain: null, seq: null, [timeFieldOf(collection)]: { $gte: since } }, { projection: { _id: 1 } })
        .limit(limit - found.length)
        .toArray();
      for (const doc of docs) found.push({ collection, _id: doc._id });
    }
    return found;
  }

  async #records(links: ChainLinkDoc[]): Promise<Map<string, Stored>> {
    const byCollection = new Map<RecordCollection, string[]>();
    for (const link of links) {
      const collection = RECORD_COLLECTIONS.find((c) => c === link.collection);
      if (collection) byCollection.set(collection, [...(byCollection.get(collection) ?? []), link.record_id]);
    }
    const found = new Map<string, Stored>();
    for (const [collection, ids] of byCollection) {
      const docs = await this.#db
        .collection<Stored>(collection)
        .find({ _id: { $in: ids } } as Document)
        .toArray();
      for (const doc of docs) found.set(`${collection}/${doc._id}`, doc);
    }
    return found;
  }
}
