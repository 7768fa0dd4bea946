import { hash } from 'node:crypto';
import { canonicalJson, canonicalValue } from './canonical.ts';

/**
 * The tamper-evident chain (README "Tamper evidence"). Each write that changes a stored record
 * is one step of a chain: the record then carries its chain's id, the step's `seq` and `hash` =
 * SHA-256 of the canonical JSON of `[previous step's hash, chain, seq, collection, the record
 * without chain, seq and hash]`. A record that is changed later (an interception's end, a client tool's result) moves
 * to a new step, and keeps the steps it left in `chain_prior`, inside what its new hash covers.
 * So every step is accounted for by what the store holds: a record at it, a record that left
 * it, or a range retention purged (the chain's anchor).
 *
 * The embedded store keeps one chain for its file; MongoDB one per process that writes
 * records (each replica and worker, each run), so no two writers ever share one.
 */

/** A step a record left when it was changed. */
export interface PriorStep {
  chain: string;
  seq: number;
  hash: string;
}

/** What a chained record carries besides its own fields. */
export interface ChainFields {
  chain?: string;
  seq?: number;
  hash?: string;
  chain_prior?: PriorStep[];
}

export const CHAIN_FIELDS = ['chain', 'seq', 'hash', 'chain_prior'] as const;

/** Where a chain's writer got to; only that writer moves it. */
export interface ChainHeadDoc {
  /** The chain's id (a random UUID). */
  _id: string;
  seq: number;
  hash: string;
  started_at: Date;
  updated_at: Date;
  /** Who writes the chain, to tell chains apart. */
  writer: { store: 'embedded' | 'mongodb'; host: string; pid: number };
}

/** Steps retention deleted that are not yet part of the anchor: `to`'s hash carries the chain on. */
export interface PurgedRange {
  from: number;
  to: number;
  hash: string;
}

/** What retention left of a chain's start: every step up to `seq` is gone; `hash` was its hash. */
export interface ChainAnchorDoc {
  _id: string;
  seq: number;
  hash: string;
  /** Purged ranges past the anchor (their neighbours are younger records still kept). */
  gaps: PurgedRange[];
  updated_at: Date;
}

/** Which record left a step: an index for the verifier, checked against the record's `chain_prior`. */
export interface ChainLinkDoc {
  /** `<chain>#<seq>` of the step left. */
  _id: string;
  chain: string;
  seq: number;
  collection: string;
  record_id: string;
}

export const linkId = (chain: string, seq: number) => `${chain}#${seq}`;

/** What a step's hash names beside the record's content. */
const PLACE = new Set(['chain', 'seq', 'hash']);

/** A record's content as hashed: canonical JSON of every field but chain, seq and hash (chain_prior in). */
export const contentJson = (record: object): string => JSON.stringify(canonicalValue(record, PLACE));

/**
 * The hash of a step: SHA-256 (hex) of the canonical JSON of `[previous step's hash, chain,
 * seq, collection, the record's content]`, `content` being that content's canonical JSON.
 */
export function stepHash(previous: string, chain: string, seq: number, collection: string, content: string): string {
  const text = `[${JSON.stringify(previous)},${JSON.stringify(chain)},${seq},${JSON.stringify(collection)},${content}]`;
  return hash('sha256', text, 'hex');
}

/** A stored record's hash as it should be, after `previous` (what verify compares with its `hash`). */
export const recordHash = (previous: string, collection: string, record: Record<string, unknown>): string =>
  stepHash(previous, String(record.chain), Number(record.seq), collection, contentJson(record));

/** A record without the chain's fields: what a change is compared on. */
export function withoutChain<T extends object>(record: T): T {
  const copy = { ...record } as Record<string, unknown>;
  for (const field of CHAIN_FIELDS) delete copy[field];
  return copy as T;
}

/** True when a change leaves a record as it is (a replayed end, a repeated result). */
export const sameRecord = (a: object, b: object) => canonicalJson(withoutChain(a)) === canonicalJson(withoutChain(b));

/** A writer's place in its chain, moved on by each step it stamps. */
export class ChainCursor {
  readonly chain: string;
  seq: number;
  hash: string;

  constructor(chain: string, seq: number, hash: string) {
    this.chain = chain;
    this.seq = seq;
    this.hash = hash;
  }

  /**
   * The record at the next step: stamped with the chain, its seq and hash. `content`: the
   * record's contentJson when the caller has it already (a journal line carries it).
   */
  stamp<T extends object>(collection: string, record: T, content = contentJson(record)): T & ChainFields {
    const seq = this.seq + 1;
    const hash = stepHash(this.hash, this.chain, seq, collection, content);
    this.seq = seq;
    this.hash = hash;
    return { ...record, chain: this.chain, seq, hash };
  }

  /**
   * A changed record at the next step: `changed` with the step `current` held added to its
   * `chain_prior`, and the link naming it (none when `current` was never chained).
   */
  restamp<T extends ChainFields & { _id: string }>(
    collection: string,
    current: T,
    changed: T,
  ): { record: T; link: ChainLinkDoc | undefined } {
    const prior = [...(current.chain_prior ?? [])];
    let link: ChainLinkDoc | undefined;
    if (typeof current.chain === 'string' && typeof current.seq === 'number' && typeof current.hash === 'string') {
      prior.push({ chain: current.chain, seq: current.seq, hash: current.hash });
      link = {
        _id: linkId(current.chain, current.seq),
        chain: current.chain,
        seq: current.seq,
        collection,
        record_id: current._id,
      };
    }
    const next = withoutChain(changed);
    if (prior.length) next.chain_prior = prior;
    return { record: this.stamp(collection, next), link };
  }

  /** Back to an earlier place (a step that was not written after all). */
  rewind(seq: number, hash: string): void {
    this.seq = seq;
    this.hash = hash;
  }
}

/**
 * The anchor after retention deleted `steps` (records and the steps they had left): the steps
 * join the purged ranges, and every range that reaches the anchor becomes part of it.
 */
export function purgedInto(
  anchor: ChainAnchorDoc | null,
  chain: string,
  steps: ReadonlyArray<{ seq: number; hash: string }>,
  now: Date,
): ChainAnchorDoc {
  const ranges: PurgedRange[] = [...(anchor?.gaps ?? [])];
  for (const step of [...steps].sort((a, b) => a.seq - b.seq)) {
    ranges.push({ from: step.seq, to: step.seq, hash: step.hash });
  }
  ranges.sort((a, b) => a.from - b.from || a.to - b.to);
  const merged: PurgedRange[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.from <= last.to + 1) {
      if (range.to > last.to) {
        last.to = range.to;
        last.hash = range.hash;
      }
    } else {
      merged.push({ ...range });
    }
  }
  let seq = anchor?.seq ?? 0;
  let hash = anchor?.hash ?? '';
  while (merged.length && (merged[0] as PurgedRange).from <= seq + 1) {
    const first = merged.shift() as PurgedRange;
    if (first.to > seq) {
      seq = first.to;
      hash = first.hash;
    }
  }
  return { _id: chain, seq, hash, gaps: merged, updated_at: now };
}

/**
 * The first `limit` of a chain's entries in seq order, and any more at the last one's seq: a
 * seq held twice (a record inserted behind the writer's back) is never split across pages.
 */
export function firstSteps<T extends { seq?: unknown }>(entries: T[], limit: number): T[] {
  if (entries.length <= limit) return entries;
  let end = limit;
  while (end < entries.length && entries[end]?.seq === entries[limit - 1]?.seq) end++;
  return entries.slice(0, end);
}
