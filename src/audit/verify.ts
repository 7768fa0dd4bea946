import {
  type ChainAnchorDoc,
  type ChainHeadDoc,
  type PriorStep,
  type PurgedRange,
  recordHash,
} from '../store/chain.ts';
import type { ChainEntry, ChainState, ChainStore } from '../store/store.ts';

/**
 * `aibridge audit verify` and `GET …/audit/verify` (README "Tamper evidence"): recomputes each
 * chain from what the store holds and names the first record that was changed, removed or
 * inserted. Work is bounded per call (`limit` steps); `next` says where to go on.
 */

export type ProblemKind = 'changed' | 'removed' | 'inserted';

export interface VerifyProblem {
  kind: ProblemKind;
  chain: string | null;
  seq: number | null;
  /** The record named, when there is one to name (a removed one is gone). */
  collection?: string;
  id?: string;
  /** One sentence: which record, and why. */
  detail: string;
}

/** Everything up to `seq` of `chain` is verified, and `hash` is that step's hash. */
export interface VerifyCursor {
  chain: string;
  seq: number;
  hash: string;
}

export interface ChainSummary {
  chain: string;
  writer: ChainHeadDoc['writer'];
  started_at: Date;
  /** Where its writer got to: keep these two outside the store to catch a rewrite of the whole chain. */
  head: { seq: number; hash: string };
  /** Steps retention purged: everything up to this seq. */
  anchor_seq: number;
}

export interface VerifyResult {
  problem: VerifyProblem | null;
  /** Steps checked by this call. */
  checked: number;
  /** Where the next call goes on; null when everything (after `since`) is checked, or on a problem. */
  next: VerifyCursor | null;
  chains: ChainSummary[];
}

export interface VerifyOptions {
  /** Only the steps from the first interceptions started at or after this time on. */
  since?: Date;
  /** Goes on from an earlier call's `next`. */
  after?: VerifyCursor;
  /** Steps to check in this call (default 10 000). */
  limit?: number;
  /** Told after each page of steps. */
  progress?(chain: string, seq: number, checked: number): void;
}

const DEFAULT_LIMIT = 10_000;
const PAGE = 1_000;

const summaryOf = ({ head, anchor }: ChainState): ChainSummary => ({
  chain: head._id,
  writer: head.writer,
  started_at: head.started_at,
  head: { seq: head.seq, hash: head.hash },
  anchor_seq: anchor?.seq ?? 0,
});

const describe = (collection: string, id: string, seq: number) => `${collection} ${id} (step ${seq})`;

export async function verifyChains(store: ChainStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const states = await store.chains();
  const result: VerifyResult = { problem: null, checked: 0, next: null, chains: states.map(summaryOf) };
  if (!options.after) {
    result.problem = await strays(store, states, options.since);
    if (result.problem) return result;
  }
  let budget = options.limit ?? DEFAULT_LIMIT;
  for (const state of states) {
    const chain = state.head._id;
    if (options.after && chain < options.after.chain) continue;
    const walk = new Walk(store, state, options);
    const start =
      options.after?.chain === chain
        ? { seq: options.after.seq, hash: options.after.hash }
        : await walk.start(options.since);
    if ('problem' in start) {
      result.problem = start.problem;
      return result;
    }
    if (start.seq === null) continue; // nothing of this chain since `since`
    const outcome = await walk.run(start.seq, start.hash, budget);
    result.checked += outcome.checked;
    budget -= outcome.checked;
    if (outcome.problem) {
      result.problem = outcome.problem;
      return result;
    }
    if (outcome.next) {
      result.next = outcome.next;
      return result;
    }
  }
  return result;
}

/** Every page to the end, or to the first problem: what the CLI runs. */
export async function verifyAll(
  store: ChainStore,
  options: Omit<VerifyOptions, 'after' | 'progress'> & {
    progress?(chain: string, seq: number, checked: number): void;
  } = {},
): Promise<VerifyResult> {
  let total = 0;
  let after: VerifyCursor | undefined;
  for (;;) {
    const page = await verifyChains(store, {
      ...options,
      after,
      progress: (chain, seq, checked) => options.progress?.(chain, seq, total + checked),
    });
    total += page.checked;
    if (page.problem || !page.next) return { ...page, checked: total };
    after = page.next;
  }
}

/**
 * Records with no place in any chain: in a chain no writer started (its head would name it),
 * or without seq and hash though dated after the first chain began.
 */
async function strays(store: ChainStore, states: ChainState[], since?: Date): Promise<VerifyProblem | null> {
  const known = new Set(states.map((s) => s.head._id));
  for (let chain = await store.nextChain(''); chain !== null; chain = await store.nextChain(chain)) {
    if (known.has(chain)) continue;
    const [first] = await store.steps(chain, 0, 1);
    const named = first?.kind === 'record' ? `${first.collection} ${first.record._id}` : 'a record';
    return {
      kind: 'inserted',
      chain,
      seq: first?.seq ?? null,
      ...(first?.kind === 'record' ? { collection: first.collection, id: first.record._id } : {}),
      detail: `${named} names chain ${chain}, which has no head in the store: no writer of this store made it`,
    };
  }
  const began = states.reduce<Date | undefined>(
    (min, s) => (min === undefined || s.head.started_at < min ? s.head.started_at : min),
    undefined,
  );
  if (!began) return null;
  const from = since && since > began ? since : began;
  const [unchained] = await store.unchained(from, 1);
  if (!unchained) return null;
  return {
    kind: 'inserted',
    chain: null,
    seq: null,
    collection: unchained.collection,
    id: unchained._id,
    detail: `${unchained.collection} ${unchained._id} has no seq and hash, though it is dated after the store began chaining records (${began.toISOString()})`,
  };
}

type Outcome = { checked: number; problem?: VerifyProblem; next?: VerifyCursor };

/** One chain's walk, step by step, through records, steps records left, and purged ranges. */
class Walk {
  readonly #store: ChainStore;
  #head: ChainHeadDoc;
  readonly #anchor: ChainAnchorDoc | null;
  readonly #progress: VerifyOptions['progress'];
  readonly #chain: string;

  constructor(store: ChainStore, state: ChainState, options: VerifyOptions) {
    this.#store = store;
    this.#head = state.head;
    this.#anchor = state.anchor;
    this.#progress = options.progress;
    this.#chain = state.head._id;
  }

  /** Where to start: after the anchor, or — with `since` — just before the first step since then. */
  async start(since?: Date): Promise<{ seq: number | null; hash: string } | { problem: VerifyProblem }> {
    const anchor = { seq: this.#anchor?.seq ?? 0, hash: this.#anchor?.hash ?? '' };
    if (!since) return anchor;
    const first = await this.#store.firstSeqSince(this.#chain, since);
    if (first === null) return { seq: null, hash: '' };
    const before = first - 1;
    if (before <= anchor.seq) return anchor;
    const gap = this.#gapAt(before);
    if (gap) return { seq: gap.to, hash: gap.hash };
    // The step before is taken as it stands: only what comes after `since` is checked.
    const entries = await this.#store.steps(this.#chain, before - 1, 1);
    const at = entries.filter((e) => e.seq === before);
    const record = at.find((e) => e.kind === 'record');
    if (record && typeof record.record.hash === 'string') return { seq: before, hash: record.record.hash };
    const left = at.find((e) => e.kind === 'left');
    const prior = left && priorOf(left, this.#chain);
    if (prior) return { seq: before, hash: prior.hash };
    return { problem: this.#removed(before, null) };
  }

  async run(afterSeq: number, afterHash: string, budget: number): Promise<Outcome> {
    let expected = afterSeq + 1;
    let previous = afterHash;
    let last: string | null = null;
    let checked = 0;
    const skipGaps = () => {
      for (let gap = this.#gapAt(expected); gap; gap = this.#gapAt(expected)) {
        expected = gap.to + 1;
        previous = gap.hash;
      }
    };
    const headCheck = (): VerifyProblem | undefined => {
      if (expected - 1 !== this.#head.seq || previous === this.#head.hash) return undefined;
      return {
        kind: 'changed',
        chain: this.#chain,
        seq: this.#head.seq,
        detail: `the head of chain ${this.#chain} says step ${this.#head.seq} has hash ${this.#head.hash}, but the records give ${previous}`,
      };
    };
    for (;;) {
      if (budget - checked <= 0) return { checked, next: { chain: this.#chain, seq: expected - 1, hash: previous } };
      const page = Math.min(PAGE, budget - checked);
      const entries = await this.#store.steps(this.#chain, expected - 1, page);
      for (const group of bySeq(entries)) {
        const seq = (group[0] as ChainEntry).seq;
        skipGaps();
        if (seq < expected) {
          if (this.#inGap(seq)) continue; // a purge cut short: the range is gone as far as the chain goes
          const extra = group.find((e) => e.kind === 'record');
          if (extra?.kind === 'record') return { checked, problem: this.#inserted(extra, this.#secondAtStep) };
          continue; // a link written before its change: the record itself holds the step
        }
        if (seq > expected) return { checked, problem: this.#removed(expected, last) };
        const records = group.filter((e) => e.kind === 'record');
        // The embedded store moves a chain's head in the transaction that writes its steps: a step
        // past the head (as it is now: the bridge may have written since it was read) was added
        // behind the writer's back. On MongoDB the head follows its records.
        const pastHead = (await this.#beyondHead(seq)) ? records[0] : undefined;
        if (pastHead?.kind === 'record') {
          return {
            checked,
            problem: this.#inserted(
              pastHead,
              `is past the head of chain ${this.#chain} (step ${this.#head.seq}), which moves with every write: it was added behind the writer's back`,
            ),
          };
        }
        if (records.length) {
          const good = records.find((e) => recordHash(previous, e.collection, e.record) === e.record.hash);
          const bad = records.find((e) => e !== good);
          if (bad?.kind === 'record') {
            return {
              checked,
              problem: good ? this.#inserted(bad, this.#secondAtStep) : this.#changed(bad, records.length > 1),
            };
          }
          const record = good as Extract<ChainEntry, { kind: 'record' }>;
          previous = record.record.hash as string;
          last = describe(record.collection, record.record._id, seq);
        } else {
          const left = group[0] as Extract<ChainEntry, { kind: 'left' }>;
          const prior = priorOf(left, this.#chain);
          if (!prior) return { checked, problem: this.#removed(seq, last, left) };
          previous = prior.hash;
          last = `the step ${left.collection} ${left.record_id} left (step ${seq})`;
        }
        expected = seq + 1;
        checked++;
        const wrongHead = headCheck();
        if (wrongHead) return { checked, problem: wrongHead };
      }
      this.#progress?.(this.#chain, expected - 1, checked);
      if (entries.length < page) break;
    }
    skipGaps();
    if (expected <= this.#head.seq) return { checked, problem: this.#removed(expected, last) };
    return { checked, problem: headCheck() };
  }

  async #beyondHead(seq: number): Promise<boolean> {
    if (this.#head.writer.store !== 'embedded' || seq <= this.#head.seq) return false;
    const now = (await this.#store.chains()).find((c) => c.head._id === this.#chain)?.head;
    if (now && now.seq >= seq) this.#head = now;
    return seq > this.#head.seq;
  }

  #gapAt(seq: number): PurgedRange | undefined {
    return this.#anchor?.gaps.find((g) => g.from <= seq && seq <= g.to);
  }

  #inGap(seq: number): boolean {
    return seq <= (this.#anchor?.seq ?? 0) || this.#gapAt(seq) !== undefined;
  }

  #changed(entry: Extract<ChainEntry, { kind: 'record' }>, several: boolean): VerifyProblem {
    const { collection, record, seq } = entry;
    return {
      kind: several ? 'inserted' : 'changed',
      chain: this.#chain,
      seq,
      collection,
      id: record._id,
      detail: several
        ? `${describe(collection, record._id, seq)} shares its step with others and none of them fits the chain`
        : `${describe(collection, record._id, seq)} no longer matches its hash: it was changed after it was written`,
    };
  }

  get #secondAtStep(): string {
    return `is a second record at a step of chain ${this.#chain} that another record holds`;
  }

  #inserted(entry: Extract<ChainEntry, { kind: 'record' }>, why: string): VerifyProblem {
    const { collection, record, seq } = entry;
    return {
      kind: 'inserted',
      chain: this.#chain,
      seq,
      collection,
      id: record._id,
      detail: `${describe(collection, record._id, seq)} ${why}`,
    };
  }

  #removed(seq: number, after: string | null, left?: Extract<ChainEntry, { kind: 'left' }>): VerifyProblem {
    const where = after ? `, just after ${after}` : '';
    const detail = left
      ? `step ${seq} of chain ${this.#chain} was left by ${left.collection} ${left.record_id}, which ${
          left.record ? 'does not say so' : 'is gone'
        }: a record was removed${where}`
      : seq > this.#head.seq
        ? `step ${seq} of chain ${this.#chain} is missing${where}`
        : `step ${seq} of chain ${this.#chain} is missing: a record was removed${where}`;
    return {
      kind: 'removed',
      chain: this.#chain,
      seq,
      ...(left?.record ? { collection: left.collection, id: left.record_id } : {}),
      detail,
    };
  }
}

/** The step a record says it left, when it does. */
function priorOf(left: Extract<ChainEntry, { kind: 'left' }>, chain: string): PriorStep | undefined {
  const prior = left.record?.chain_prior;
  if (!Array.isArray(prior)) return undefined;
  return (prior as PriorStep[]).find((p) => p.chain === chain && p.seq === left.seq);
}

function* bySeq(entries: ChainEntry[]): Generator<ChainEntry[]> {
  for (let i = 0; i < entries.length; ) {
    let end = i + 1;
    while (end < entries.length && entries[end]?.seq === entries[i]?.seq) end++;
    yield entries.slice(i, end);
    i = end;
  }
}
