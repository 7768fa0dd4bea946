import { type ChainAnchorDoc, type ChainHeadDoc, type ChainLinkDoc, firstSteps } from '../chain.ts';
import {
  type ChainEntry,
  type ChainState,
  COLLECTIONS,
  type CollectionName,
  RECORD_COLLECTIONS,
  type RecordCollection,
  timeFieldOf,
} from '../store.ts';
import type { Sync } from './protocol.ts';
import { decode, decodeAll } from './rows.ts';
import { idList, type Sql } from './sql.ts';

/** How many of the first interceptions since a time `firstSeqSince` looks at. */
const FIRST_INTERCEPTIONS = 100;

type Stored = Record<string, unknown> & { _id: string };

/** The chains as verify reads them (chain.ts): each call one index range per table. */
export class EmbeddedChain implements Sync<'chain'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  chains(): ChainState[] {
    return this.#sql.snapshot(() => {
      const anchors = new Map(
        decodeAll<ChainAnchorDoc>(COLLECTIONS.chainAnchors, this.#sql.all(`SELECT doc FROM chain_anchors`)).map((a) => [
          a._id,
          a,
        ]),
      );
      return decodeAll<ChainHeadDoc>(
        COLLECTIONS.chainHeads,
        this.#sql.all(`SELECT doc FROM chain_heads ORDER BY id`),
      ).map((head) => ({ head, anchor: anchors.get(head._id) ?? null }));
    });
  }

  nextChain(after: string): string | null {
    let next: string | null = null;
    for (const table of RECORD_COLLECTIONS) {
      const found = this.#sql.get(`SELECT min(chain) AS chain FROM ${table} WHERE chain > ?`, [after])?.chain;
      if (typeof found === 'string' && (next === null || found < next)) next = found;
    }
    return next;
  }

  steps(chain: string, afterSeq: number, limit: number): ChainEntry[] {
    return this.#sql.snapshot(() => {
      // Each arm walks its own (chain, seq) index; a record sorts before a link at the same seq.
      const arms = [...RECORD_COLLECTIONS, COLLECTIONS.chainLinks].map(
        (table) =>
          `SELECT * FROM (SELECT '${table}' AS source, ${table === COLLECTIONS.chainLinks ? 1 : 0} AS rank, seq, doc
            FROM ${table} WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?)`,
      );
      const params = arms.flatMap(() => [chain, afterSeq, limit]);
      const rows = this.#sql.all(`${arms.join(' UNION ALL ')} ORDER BY seq, rank`, params);
      const kept = firstSteps(rows, limit);
      const links = kept
        .filter((row) => row.source === COLLECTIONS.chainLinks)
        .map((row) => decode<ChainLinkDoc>(COLLECTIONS.chainLinks, row.doc as string));
      const leavers = this.#records(links);
      return kept.map((row): ChainEntry => {
        if (row.source !== COLLECTIONS.chainLinks) {
          const collection = row.source as RecordCollection;
          return {
            kind: 'record',
            seq: row.seq as number,
            collection,
            record: decode<Stored>(collection, row.doc as string),
          };
        }
        const link = decode<ChainLinkDoc>(COLLECTIONS.chainLinks, row.doc as string);
        return {
          kind: 'left',
          seq: link.seq,
          collection: link.collection,
          record_id: link.record_id,
          record: leavers.get(`${link.collection}/${link.record_id}`) ?? null,
        };
      });
    });
  }

  firstSeqSince(chain: string, since: Date): number | null {
    const rows = this.#sql.all(
      `SELECT seq, doc -> '$.chain_prior' AS prior FROM interceptions WHERE started_at >= ? AND chain = ?
        ORDER BY started_at LIMIT ?`,
      [since.getTime(), chain, FIRST_INTERCEPTIONS],
    );
    let first: number | null = null;
    const consider = (seq: number) => {
      if (first === null || seq < first) first = seq;
    };
    for (const row of rows) {
      consider(row.seq as number);
      if (typeof row.prior !== 'string') continue;
      for (const step of JSON.parse(row.prior) as Array<{ chain: string; seq: number }>)
        if (step.chain === chain) consider(step.seq);
    }
    return first;
  }

  unchained(since: Date, limit: number): Array<{ collection: string; _id: string }> {
    const found: Array<{ collection: string; _id: string }> = [];
    for (const table of RECORD_COLLECTIONS) {
      if (found.length >= limit) break;
      const rows = this.#sql.all(
        `SELECT id FROM ${table} WHERE chain IS NULL AND seq IS NULL AND ${timeFieldOf(table)} >= ? LIMIT ?`,
        [since.getTime(), limit - found.length],
      );
      for (const row of rows) found.push({ collection: table, _id: row.id as string });
    }
    return found;
  }

  /** The records that left the linked steps, by `collection/id`. */
  #records(links: ChainLinkDoc[]): Map<string, Stored> {
    const byCollection = new Map<string, string[]>();
    for (const link of links) {
      if (!(RECORD_COLLECTIONS as readonly string[]).includes(link.collection)) continue;
      byCollection.set(link.collection, [...(byCollection.get(link.collection) ?? []), link.record_id]);
    }
    const found = new Map<string, Stored>();
    for (const [collection, ids] of byCollection) {
      const rows = this.#sql.all(`SELECT doc FROM ${collection} WHERE id IN (SELECT value FROM json_each(?))`, [
        idList(ids),
      ]);
      for (const doc of decodeAll<Stored>(collection as CollectionName, rows))
        found.set(`${collection}/${doc._id}`, doc);
    }
    return found;
  }
}
