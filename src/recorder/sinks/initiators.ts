import type { RecordOp } from '../../store/records.ts';
import { initiatorOf, interceptionIdOf } from './event.ts';

/** Finds who made an interception the journal no longer shows (after a restart): the store, usually. */
export type InitiatorLookup = (interceptionId: string) => Promise<string | null>;

/** Interceptions remembered; their children follow them closely in the journal. */
const MAX_KNOWN = 50_000;
/** A lookup that takes longer gives up: the event goes with `initiator: null` rather than wait. */
const LOOKUP_TIMEOUT_MS = 5_000;
/** Lookups of one batch that run at once. */
const LOOKUP_PARALLELISM = 8;

/**
 * Interception id → initiator id, learned from the interception records a sink reads before
 * their children; bounded, the oldest forgotten first. An id it does not know is looked up.
 */
export class Initiators {
  readonly #known = new Map<string, string>();
  readonly #lookup: InitiatorLookup | undefined;
  readonly #max: number;

  constructor(lookup?: InitiatorLookup, max = MAX_KNOWN) {
    this.#lookup = lookup;
    this.#max = max;
  }

  #remember(interceptionId: string, initiator: string): void {
    if (this.#known.size >= this.#max && !this.#known.has(interceptionId)) {
      this.#known.delete(this.#known.keys().next().value as string);
    }
    this.#known.set(interceptionId, initiator);
  }

  /** Each record's initiator, in order; null where nobody knows it (or the lookup failed). */
  async resolve(ops: readonly RecordOp[]): Promise<Array<string | null>> {
    const ids = ops.map(interceptionIdOf);
    const own = ops.map(initiatorOf);
    const unknown = new Set<string>();
    ops.forEach((_op, i) => {
      const id = ids[i] ?? null;
      const initiator = own[i];
      if (id === null) return; // an annotation outside any interception names its initiator itself
      if (initiator !== undefined) this.#remember(id, initiator);
      else if (!this.#known.has(id)) unknown.add(id);
    });
    if (unknown.size && this.#lookup) await this.#lookupAll([...unknown]);
    return ids.map((id, i) => own[i] ?? (id === null ? null : (this.#known.get(id) ?? null)));
  }

  async #lookupAll(ids: string[]): Promise<void> {
    const lookup = this.#lookup as InitiatorLookup;
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const found = await withTimeout(lookup(id)).catch(() => null);
        if (found) this.#remember(id, found);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUP_PARALLELISM, ids.length) }, worker));
  }
}

function withTimeout<T>(promise: Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), LOOKUP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
