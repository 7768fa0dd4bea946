import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ChainCursor, type ChainHeadDoc } from '../chain.ts';
import { COLLECTIONS } from '../store.ts';
import { decode } from './rows.ts';
import type { Sql } from './sql.ts';

/**
 * The file's one chain (chain.ts), read and moved inside each write transaction: under
 * `--workers` several processes write the file, each transaction taking the head where the
 * last one, of whichever process, left it.
 */
export class EmbeddedChainHead {
  readonly #sql: Sql;
  #id: string | undefined;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Where the chain stands; the first write of a file starts it. Call inside a transaction. */
  open(now = new Date()): ChainCursor {
    const head = this.#head() ?? this.#start(now);
    return new ChainCursor(head._id, head.seq, head.hash);
  }

  /** Moves the head to where `cursor` got. Inside the same transaction as the steps. */
  save(cursor: ChainCursor, now = new Date()): void {
    const head = this.#head();
    if (!head) throw new Error('the chain head is gone');
    const moved: ChainHeadDoc = { ...head, seq: cursor.seq, hash: cursor.hash, updated_at: now };
    this.#sql.replace(COLLECTIONS.chainHeads, moved);
  }

  #head(): ChainHeadDoc | null {
    if (this.#id) return this.#sql.find<ChainHeadDoc>(COLLECTIONS.chainHeads, this.#id);
    // Only this store's own writers start chains in the file; the first one started is its chain.
    const own = this.#sql
      .all(`SELECT doc FROM ${COLLECTIONS.chainHeads} ORDER BY id`)
      .map((row) => decode<ChainHeadDoc>(COLLECTIONS.chainHeads, row.doc as string))
      .find((head) => head.writer?.store === 'embedded');
    this.#id = own?._id;
    return own ?? null;
  }

  #start(now: Date): ChainHeadDoc {
    const head: ChainHeadDoc = {
      _id: randomUUID(),
      seq: 0,
      hash: '',
      started_at: now,
      updated_at: now,
      writer: { store: 'embedded', host: hostname(), pid: process.pid },
    };
    this.#sql.insert(COLLECTIONS.chainHeads, head, false);
    this.#id = head._id;
    return head;
  }
}
