// What a probe's window (probe.ts) says about the tail: each request's phases, and how much of the
// slowest requests' extra time overlapped GC pauses, journal writes and other synchronous file
// writes, against the requests around the median.
import { constants } from 'node:perf_hooks';
import { percentile } from '../load.ts';
import type { Timed } from './load.ts';

export interface Dump {
  window_ms: number;
  /** id, start, handler, upstream request created, upstream headers, upstream end, response finished (ms, process clock; null: not seen). */
  requests: Array<[string, number, ...Array<number | null>]>;
  /** start, duration, kind (perf_hooks GC constants) */
  gcs: Array<[number, number, number]>;
  /** start, duration, bytes, what (journal | stdio | other | writeFileSync) */
  syncs: Array<[number, number, number, string]>;
  /** start, duration, where it was set: each run of a setInterval callback (the recorder's tick, the journal's sync…). */
  intervals: Array<[number, number, string]>;
  /** start, duration: each message to a worker thread (postMessage), the store's above all. */
  hand_offs: Array<[number, number]>;
  allocated_bytes: number;
  socket_writes: { count: number; bytes: number };
  async_resources: Record<string, number>;
  event_loop_delay: Record<string, number>;
  event_loop_utilization: number;
}

/** Windows that never overlap each other (all on the main thread), for overlap sums. */
class Intervals {
  readonly #starts: number[];
  readonly #ends: number[];
  readonly #prefix: number[];

  constructor(list: Array<[number, number]>) {
    const sorted = [...list].sort((a, b) => a[0] - b[0]);
    this.#starts = sorted.map(([s]) => s);
    this.#ends = sorted.map(([s, d]) => s + d);
    this.#prefix = [0];
    for (const [, d] of sorted) this.#prefix.push((this.#prefix.at(-1) as number) + d);
  }

  /** Milliseconds of [from, to] inside the intervals. */
  overlap(from: number, to: number): number {
    const first = lowerBound(this.#ends, from); // first one ending after `from`
    const last = lowerBound(this.#starts, to) - 1; // last one starting before `to`
    if (last < first) return 0;
    let sum = (this.#prefix[last + 1] as number) - (this.#prefix[first] as number);
    sum -= Math.max(0, from - (this.#starts[first] as number));
    sum -= Math.max(0, (this.#ends[last] as number) - to);
    return Math.max(0, sum);
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const p = (values: number[], q: number) => percentile(Array.from(Float64Array.from(values).sort()), q);
const pair = (values: number[]) => ({ p50_ms: p(values, 50), p99_ms: p(values, 99) });
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN);

export const PHASES = ['outside', 'read', 'prepare', 'upstream', 'relay', 'finish'] as const;

/** Each interval timer's runs: how often, how long in all (per request) and at most. */
function intervalSummary(runs: Dump['intervals'], requests: number) {
  const by: Record<string, { runs: number; ms_per_request: number; max_ms: number }> = {};
  for (const [, d, where] of runs) {
    const entry = by[where] ?? { runs: 0, ms_per_request: 0, max_ms: 0 };
    by[where] = entry;
    entry.runs++;
    entry.ms_per_request += d / requests;
    entry.max_ms = Math.max(entry.max_ms, d);
  }
  return by;
}

/** A window's figures: per request, and the slowest 1 % against the middle fifth. */
export function analyse(dump: Dump, timed: Timed[]) {
  const latency = new Map(timed.map((t) => [t.id, t.ms]));
  const gc = new Intervals(dump.gcs.map(([s, d]) => [s, d]));
  const journal = new Intervals(dump.syncs.filter((x) => x[3] === 'journal').map(([s, d]) => [s, d]));
  const otherSync = new Intervals(dump.syncs.filter((x) => x[3] !== 'journal').map(([s, d]) => [s, d]));
  const timers = new Intervals(dump.intervals.map(([s, d]) => [s, d]));
  const handOffs = new Intervals(dump.hand_offs);
  const rows = dump.requests.flatMap(([id, start, ...moments]) => {
    const [handler, create, headers, trailers, end] = moments.map((m) => m ?? undefined);
    const ms = latency.get(id);
    if (ms === undefined || end === undefined) return [];
    // The client's whole wait, placed on the server's clock as ending when the server finished.
    const from = end - ms;
    const phases = {
      outside: ms - (end - start),
      read: (handler ?? create ?? end) - start,
      prepare: handler !== undefined && create !== undefined ? create - handler : Number.NaN,
      upstream: create !== undefined && headers !== undefined ? headers - create : Number.NaN,
      relay: headers !== undefined && trailers !== undefined ? trailers - headers : Number.NaN,
      finish: end - (trailers ?? headers ?? create ?? start),
    };
    return [
      {
        ms,
        server: end - start,
        phases,
        gc: gc.overlap(from, end),
        journal: journal.overlap(from, end),
        otherSync: otherSync.overlap(from, end),
        timers: timers.overlap(from, end),
        handOffs: handOffs.overlap(from, end),
      },
    ];
  });
  rows.sort((a, b) => a.ms - b.ms);
  const n = rows.length;
  const tail = rows.slice(Math.floor(n * 0.99));
  const middle = rows.slice(Math.floor(n * 0.4), Math.ceil(n * 0.6));
  const delta = (f: (r: (typeof rows)[number]) => number) => mean(tail.map(f)) - mean(middle.map(f));
  const excess = delta((r) => r.ms);
  const causes = {
    gc_pauses: delta((r) => r.gc),
    journal_writes: delta((r) => r.journal),
    other_sync_writes: delta((r) => r.otherSync),
    interval_timers: delta((r) => r.timers),
    store_hand_offs: delta((r) => r.handOffs),
  };
  const explained =
    causes.gc_pauses +
    causes.journal_writes +
    causes.other_sync_writes +
    causes.interval_timers +
    causes.store_hand_offs;
  const requests = timed.length;
  const gcOf = (kind: number) => dump.gcs.filter((g) => g[2] === kind);
  const journalWrites = dump.syncs.filter((x) => x[3] === 'journal');
  const perRequest = (x: number) => x / requests;
  return {
    requests,
    latency: {
      ...pair(rows.map((r) => r.ms)),
      p999_ms: p(
        rows.map((r) => r.ms),
        99.9,
      ),
    },
    server: pair(rows.map((r) => r.server)),
    phases: Object.fromEntries(
      PHASES.map((k) => [k, pair(rows.map((r) => r.phases[k]).filter((x) => !Number.isNaN(x)))]),
    ),
    gc: {
      scavenges_per_1k: perRequest(gcOf(constants.NODE_PERFORMANCE_GC_MINOR).length) * 1000,
      mark_compacts: gcOf(constants.NODE_PERFORMANCE_GC_MAJOR).length,
      pause_ms_per_request: perRequest(dump.gcs.reduce((s, g) => s + g[1], 0)),
      scavenge_p50_ms: p(
        gcOf(constants.NODE_PERFORMANCE_GC_MINOR).map((g) => g[1]),
        50,
      ),
      max_pause_ms: Math.max(0, ...dump.gcs.map((g) => g[1])),
    },
    journal: {
      writes_per_request: perRequest(journalWrites.length),
      ms_per_request: perRequest(journalWrites.reduce((s, x) => s + x[1], 0)),
      p99_ms: p(
        journalWrites.map((x) => x[1]),
        99,
      ),
      max_ms: Math.max(0, ...journalWrites.map((x) => x[1])),
    },
    other_sync_ms_per_request: perRequest(dump.syncs.filter((x) => x[3] !== 'journal').reduce((s, x) => s + x[1], 0)),
    interval_timers: intervalSummary(dump.intervals, requests),
    store_hand_offs: {
      per_request: perRequest(dump.hand_offs.length),
      ms_per_request: perRequest(dump.hand_offs.reduce((s, h) => s + h[1], 0)),
      p50_ms: p(
        dump.hand_offs.map((h) => h[1]),
        50,
      ),
      max_ms: Math.max(0, ...dump.hand_offs.map((h) => h[1])),
    },
    allocated_kb_per_request: perRequest(dump.allocated_bytes) / 1024,
    socket_writes_per_request: perRequest(dump.socket_writes.count),
    async_resources_per_request: Object.fromEntries(
      Object.entries(dump.async_resources).map(([k, v]) => [k, perRequest(v)]),
    ),
    event_loop_delay: dump.event_loop_delay,
    event_loop_utilization: dump.event_loop_utilization,
    tail: {
      /** Mean latency of the slowest 1 % over the mean of the middle fifth. */
      excess_ms: excess,
      causes_ms: { ...causes, rest: excess - explained },
      /** Each cause's part of the excess (its ms over excess_ms): comparable across rounds. */
      shares: Object.fromEntries(
        Object.entries({ ...causes, rest: excess - explained }).map(([k, ms]) => [k, ms / excess]),
      ),
      /** Where the extra time shows, phase by phase (the same difference of means). */
      phases_ms: Object.fromEntries(PHASES.map((k) => [k, delta((r) => r.phases[k])])),
    },
  };
}

export type Analysis = ReturnType<typeof analyse>;
