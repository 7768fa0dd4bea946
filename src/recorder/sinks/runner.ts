import type { Logger } from '../../observability/logger.ts';
import { before, type Journal, type Position } from '../journal.ts';
import { bytesBehind, checkpointFile, countRecords, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { type BridgeIdentity, toEvent } from './event.ts';
import type { Initiators } from './initiators.ts';
import { BatchTooLarge, type OutgoingEvent, type SinkTransport } from './transport.ts';

export interface SinkRunnerOptions {
  name: string;
  journal: Journal;
  transport: SinkTransport;
  initiators: Initiators;
  bridge: BridgeIdentity;
  log: Logger;
  /** Journal bytes this sink may leave undelivered; past it, its oldest segments are let go. */
  maxBacklogBytes: number;
  /** Longest wait between two attempts while the sink fails. */
  retryMaxMs: number;
}

/** What the metrics show of one sink. */
export interface SinkStats {
  name: string;
  /** Journaled records not yet sent to the sink. */
  lag: number;
  /** Events handed to the sink (a resend counts again). */
  delivered: number;
  /** Failed deliveries. */
  errors: number;
  /** Records let go, never sent, because the backlog passed max_backlog_bytes. */
  dropped: number;
}

/** Records read per batch, at most. */
const BATCH_RECORDS = 500;
/** Event bytes per batch, at most (one event always goes, whatever its size). */
const BATCH_BYTES = 1024 * 1024;
/** While idle, the journal's end is looked at this often (no I/O unless it moved). */
const IDLE_MS = 100;
const FIRST_RETRY_MS = 250;
/** The backlog is measured (a directory listing) at most this often. */
const BACKLOG_CHECK_MS = 1_000;
/** While failing, a reminder is logged this often. */
const REMIND_MS = 60_000;

interface Batch {
  from: Position;
  events: OutgoingEvent[];
  end: Position;
}

interface Unsettled {
  end: Position;
  index: number;
  at: number;
  connection: number | undefined;
}

/**
 * Feeds one sink from the journal: reads records in order from its own checkpoint
 * (`checkpoint-sink-<name>.json` beside the journal), sends them in batches, and moves the
 * checkpoint once a batch is delivered — at least once, in order. A failing sink is retried
 * with exponential backoff and delays nobody else: the request path only appends to the
 * journal, and the journal keeps the segments this sink still needs (up to maxBacklogBytes).
 */
export class SinkRunner {
  readonly name: string;
  readonly #journal: Journal;
  readonly #transport: SinkTransport;
  readonly #initiators: Initiators;
  readonly #bridge: BridgeIdentity;
  readonly #log: Logger;
  readonly #options: SinkRunnerOptions;
  readonly #file: string;
  readonly #release: () => void;
  /** Where the next batch starts: after the last one sent. */
  #position: Position;
  /** After the last batch known to be delivered: what the checkpoint file says. */
  #confirmed: Position;
  #saved: Position;
  #unsettled: Unsettled[] = [];
  /** Records passed (sent or let go) since start, up to #position, and up to #confirmed. */
  #index = 0;
  #confirmedIndex = 0;
  /** Records between the start position and the journal's end at start (counted in the background). */
  #startBacklog = 0;
  #appendedAtStart = 0;
  #batch: Batch | undefined;
  #batchLimit = BATCH_RECORDS;
  #stats = { delivered: 0, errors: 0, dropped: 0 };
  #failingSince = 0;
  #remindedAt = 0;
  #retryMs = 0;
  #backlogCheckedAt = 0;
  #stopping = false;
  #deadline = Number.POSITIVE_INFINITY;
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  /** Reads the checkpoint and holds the journal's segments from it at once: create it before the recorder ships. */
  constructor(options: SinkRunnerOptions) {
    this.name = options.name;
    this.#options = options;
    this.#journal = options.journal;
    this.#transport = options.transport;
    this.#initiators = options.initiators;
    this.#bridge = options.bridge;
    this.#log = options.log;
    this.#file = checkpointFile(this.#journal.dir, this.name);
    this.#position = this.#start();
    this.#confirmed = this.#position;
    this.#saved = this.#position;
    this.#release = this.#journal.hold(
      () => this.#saved,
      (segments) => {
        this.#log.error(
          { sink: this.name, segments },
          'audit sink: journal segments it had not sent were deleted to free a full disk; their records will not be sent',
        );
      },
    );
  }

  /** Where delivery resumes: the checkpoint; a new sink starts at the journal's current end. */
  #start(): Position {
    const found = readCheckpoint(this.#file);
    const oldest = this.#journal.segments()[0];
    const facts = { sink: this.name, target: this.#transport.target };
    if (found === 'none') {
      const end = this.#journal.end;
      this.#log.info({ ...facts, from: end }, 'audit sink: new; it starts with the records journaled from now on');
      this.#save(end);
      return end;
    }
    if (found === 'unreadable') {
      const from = { segment: oldest ?? this.#journal.end.segment, offset: 0 };
      this.#log.warn(
        { ...facts, from },
        'audit sink: its checkpoint is unreadable; sending again all the journal holds',
      );
      return from;
    }
    if (before(this.#journal.end, found)) {
      this.#log.warn(
        { ...facts, checkpoint: found },
        'audit sink: its checkpoint is past the journal; it starts at the end',
      );
      return this.#journal.end;
    }
    if (oldest !== undefined && found.segment < oldest) {
      this.#log.error(
        { ...facts, checkpoint: found, oldest_segment: oldest },
        'audit sink: journal segments after its checkpoint are gone; records between were not sent',
      );
    }
    return found;
  }

  /** Starts sending; counts the backlog left by the previous run in the background (for the lag). */
  start(): void {
    const end = this.#journal.end;
    this.#appendedAtStart = this.#journal.appended; // what is appended from here on adds to the lag
    countRecords(this.#journal, this.#position, end).then(
      (n) => {
        this.#startBacklog = n;
      },
      () => {},
    );
    this.#loop ??= this.#run();
  }

  stats(): SinkStats {
    const journaled = this.#startBacklog + this.#journal.appended - this.#appendedAtStart;
    return { name: this.name, lag: Math.max(0, journaled - this.#index), ...this.#stats };
  }

  async #run(): Promise<void> {
    while (!this.#stopping || Date.now() < this.#deadline) {
      this.#settle();
      await this.#capBacklog();
      const batch = await this.#next();
      if (!batch) {
        if (this.#stopping) return; // caught up: nothing left to send
        await this.#sleep(IDLE_MS);
        continue;
      }
      try {
        await this.#transport.deliver(batch.events, this.#abort.signal);
      } catch (err) {
        if (this.#stopping && this.#abort.signal.aborted) return;
        this.#failed(err as Error, batch);
        if (this.#stopping) return; // a failing sink does not hold up shutdown
        await this.#sleep(this.#retryMs);
        continue;
      }
      this.#delivered(batch);
    }
  }

  /** The next batch from #position (the same one again after a failure), or undefined at the end. */
  async #next(): Promise<Batch | undefined> {
    const held = this.#batch;
    if (held && held.from === this.#position && held.events.length <= this.#batchLimit) return held;
    if (!before(this.#position, this.#journal.end)) return undefined;
    const entries = this.#journal.read(this.#position, this.#batchLimit);
    if (!entries.length) return undefined;
    const initiators = await this.#initiators.resolve(entries.map((e) => e.op));
    const events: OutgoingEvent[] = [];
    let bytes = 0;
    for (const [i, entry] of entries.entries()) {
      const event = toEvent(entry.op, initiators[i] ?? null, this.#bridge);
      const json = JSON.stringify(event);
      if (events.length && bytes + json.length > BATCH_BYTES) break;
      events.push({ kind: event.kind, time: event.time, json });
      bytes += json.length;
    }
    const end = (entries[events.length - 1] as (typeof entries)[number]).end;
    this.#batch = { from: this.#position, events, end };
    return this.#batch;
  }

  #delivered(batch: Batch): void {
    this.#stats.delivered += batch.events.length;
    this.#position = batch.end;
    this.#index += batch.events.length;
    this.#batch = undefined;
    this.#retryMs = 0;
    this.#batchLimit = Math.min(BATCH_RECORDS, this.#batchLimit * 2);
    if (this.#failingSince) {
      this.#log.info(
        { sink: this.name, target: this.#transport.target, failed_for_ms: Date.now() - this.#failingSince },
        'audit sink: delivering again',
      );
      this.#failingSince = 0;
    }
    if (this.#transport.settleMs) {
      const connection = this.#transport.connection;
      this.#unsettled.push({ end: batch.end, index: this.#index, at: Date.now(), connection });
    } else {
      this.#confirm(batch.end, this.#index);
    }
  }

  #failed(err: Error, batch: Batch): void {
    this.#stats.errors++;
    this.#retryMs = Math.min(Math.max(this.#retryMs * 2, FIRST_RETRY_MS), this.#options.retryMaxMs);
    if (err instanceof BatchTooLarge) this.#batchLimit = Math.max(1, Math.floor(batch.events.length / 2));
    const now = Date.now();
    const facts = { sink: this.name, target: this.#transport.target, err: err.message, retry_in_ms: this.#retryMs };
    if (!this.#failingSince) {
      this.#failingSince = now;
      this.#remindedAt = now;
      this.#log.warn(facts, 'audit sink: delivery failed; its records wait in the journal and are sent again');
    } else if (now - this.#remindedAt >= REMIND_MS) {
      this.#remindedAt = now;
      this.#log.warn({ ...facts, failing_for_ms: now - this.#failingSince }, 'audit sink: still failing');
    }
  }

  /**
   * For a transport with a settle time: batches that stayed long enough on a live connection
   * count as delivered; when the connection was lost, everything not yet counted is sent again.
   */
  #settle(): void {
    if (!this.#unsettled.length) return;
    if (this.#unsettled.some((u) => u.connection !== this.#transport.connection)) {
      this.#unsettled = [];
      this.#position = this.#confirmed;
      this.#index = this.#confirmedIndex;
      this.#batch = undefined;
      return;
    }
    const cutoff = Date.now() - (this.#transport.settleMs ?? 0);
    let settled: Unsettled | undefined;
    while (this.#unsettled.length && (this.#unsettled[0] as Unsettled).at <= cutoff) settled = this.#unsettled.shift();
    if (settled) this.#confirm(settled.end, settled.index);
  }

  #confirm(position: Position, index: number): void {
    this.#confirmed = position;
    this.#confirmedIndex = index;
    const movedSegment = position.segment > this.#saved.segment;
    this.#save(position);
    if (movedSegment) {
      try {
        this.#journal.prune();
      } catch {} // a segment that cannot be deleted now is deleted at a later move
    }
  }

  #save(position: Position): void {
    try {
      writeCheckpoint(this.#file, position);
      this.#saved = position;
    } catch (err) {
      // Unsaved, it only means a restart sends again more; the journal keeps what the saved one needs.
      this.#log.warn({ sink: this.name, err: (err as Error).message }, 'audit sink: checkpoint not saved');
    }
  }

  /**
   * A sink far behind must not fill the disk: past maxBacklogBytes its oldest segments are let
   * go (never the one being written), counted and logged — the one loss an audit sink allows.
   */
  async #capBacklog(): Promise<void> {
    const now = Date.now();
    if (now - this.#backlogCheckedAt < BACKLOG_CHECK_MS) return;
    this.#backlogCheckedAt = now;
    const end = this.#journal.end;
    let behind = bytesBehind(this.#journal, this.#confirmed);
    if (behind <= this.#options.maxBacklogBytes) return;
    let keepFrom = this.#confirmed.segment;
    for (const n of this.#journal.segments()) {
      if (n < keepFrom || n >= end.segment || behind <= this.#options.maxBacklogBytes) continue;
      behind -= this.#journal.segmentSize(n) - (n === this.#confirmed.segment ? this.#confirmed.offset : 0);
      keepFrom = n + 1;
    }
    const target = { segment: keepFrom, offset: 0 };
    if (!before(this.#confirmed, target)) return;
    // What was sent counts as delivered; what was never sent is let go.
    this.#unsettled = [];
    this.#confirmed = this.#position;
    this.#confirmedIndex = this.#index;
    let lost = 0;
    if (before(this.#position, target)) {
      lost = await countRecords(this.#journal, this.#position, target);
      this.#position = target;
      this.#index += lost;
      this.#batch = undefined;
    }
    this.#stats.dropped += lost;
    this.#confirm(this.#position, this.#index);
    this.#log.error(
      {
        sink: this.name,
        target: this.#transport.target,
        records: lost,
        max_backlog_bytes: this.#options.maxBacklogBytes,
        resumes_at: target,
      },
      'audit sink: backlog past max_backlog_bytes; its oldest journal segments were let go and their records will not be sent',
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /**
   * Sends what is left for up to `timeoutMs` (a failing sink stops at once), then ends the
   * transport; a receiver that confirms it has read everything settles what was sent.
   */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.#deadline = Date.now() + timeoutMs;
    if (this.#failingSince) this.#deadline = 0;
    const abortAt = setTimeout(() => this.#abort.abort(), Math.max(0, this.#deadline - Date.now()));
    this.#wake?.();
    await this.#loop;
    clearTimeout(abortAt);
    this.#abort.abort();
    if ((await this.#transport.close().catch(() => false)) && this.#unsettled.length) {
      this.#confirm(this.#position, this.#index);
    }
    this.#unsettled = [];
    this.#release();
  }
}
