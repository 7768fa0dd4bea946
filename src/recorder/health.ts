import type { Logger } from '../observability/logger.ts';

/** How long store writes may fail for a passing cause before records count as not kept (a blip only warns). */
export const STORE_GRACE_MS = 5_000;

/** Why records cannot be kept right now (README "Reliability"). */
export interface RecordingFailure {
  /** `journal`: it cannot be appended, records wait in memory; `store`: it refuses writes, records wait in the journal. */
  where: 'journal' | 'store';
  /** In an operator's words, with its code: `disk full (ENOSPC)`. */
  cause: string;
  since: Date;
}

interface Failing {
  cause: string;
  since: number;
  /** Whether the ERROR line went out (the store's only once past the grace). */
  reported: boolean;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Whether the journal and the store take records, and the log of its changes: one ERROR when
 * either starts failing (the store only once past STORE_GRACE_MS; before, one WARN) or its cause
 * changes, one INFO when it recovers — never a line per record or per retry.
 */
export class RecordingHealth {
  readonly #log: Logger;
  #journal: Failing | undefined;
  #store: Failing | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  journalFailed(cause: string, err: unknown, held: number): void {
    if (this.#journal?.cause === cause) return;
    this.#journal = { cause, since: this.#journal?.since ?? Date.now(), reported: true };
    this.#log.error(
      { cause, err: messageOf(err), held },
      'recorder: the journal cannot be written; records are held in memory until it can',
    );
  }

  journalRecovered(rejoined: number): void {
    if (!this.#journal) return;
    const { cause, since } = this.#journal;
    this.#journal = undefined;
    this.#log.info(
      { cause, failing_ms: Date.now() - since, records: rejoined },
      'recorder: the journal takes records again; those held in memory are in it',
    );
  }

  storeFailed(cause: string, err: unknown): void {
    const failing = this.#store;
    if (!failing) {
      this.#store = { cause, since: Date.now(), reported: false };
      this.#log.warn({ cause, err: messageOf(err) }, 'recorder: store write failed; will retry');
      return;
    }
    if (failing.cause === cause) return;
    failing.cause = cause;
    if (failing.reported) this.#reportStore(err);
  }

  storeRecovered(): void {
    if (!this.#store) return;
    const { cause, since } = this.#store;
    this.#store = undefined;
    this.#log.info({ cause, failing_ms: Date.now() - since }, 'recorder: the store takes records again');
  }

  /** Reports a store failing past the grace; the recorder calls it on its tick. */
  tick(now = Date.now()): void {
    const failing = this.#store;
    if (failing && !failing.reported && now - failing.since >= STORE_GRACE_MS) this.#reportStore();
  }

  #reportStore(err?: unknown): void {
    const failing = this.#store as Failing;
    failing.reported = true;
    this.#log.error(
      { cause: failing.cause, ...(err === undefined ? {} : { err: messageOf(err) }) },
      'recorder: the store refuses writes; records wait in the journal until it takes them',
    );
  }

  /** The journal's cause while it cannot be appended. */
  get journal(): string | undefined {
    return this.#journal?.cause;
  }

  /** Why records cannot be kept: the journal failing, or the store failing past the grace; undefined while they can. */
  failure(now = Date.now()): RecordingFailure | undefined {
    const journal = this.#journal;
    if (journal) return { where: 'journal', cause: journal.cause, since: new Date(journal.since) };
    const store = this.#store;
    if (store && now - store.since >= STORE_GRACE_MS) {
      return { where: 'store', cause: store.cause, since: new Date(store.since) };
    }
    return undefined;
  }
}
