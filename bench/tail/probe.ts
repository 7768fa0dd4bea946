// Loaded into the bridge with `node --import ./bench/tail/probe.ts …`: records, on the process's
// own clock, each request's phases (through the diagnostics channels of node:http, fastify and
// undici, keyed by the x-bench-id header the client sends and the bridge forwards), every GC
// pause, every synchronous file write (the journal's above all), each run of an interval timer,
// each message to a worker thread (the store's), socket writes, the event loop's delay and the bytes allocated. It serves them on its own port:
// POST /reset starts a window, GET /dump returns it. Nothing of it is in the product.
//   TAIL_PROBE_SKIP_JOURNAL=1   journal appends are not written (to measure what they cost; loses records)
//   TAIL_PROBE_PROMISES=1       counts async resources created by type (slow: a pass of its own)
import { createHook } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import { createServer } from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';

const ID_HEADER = 'x-bench-id';
const ELD_RESOLUTION_MS = 1;
const now = () => performance.now();

/** One request's moments: arrived, handler, upstream request created, its headers, its end, answered. */
interface Phases {
  start: number;
  handler?: number;
  create?: number;
  headers?: number;
  trailers?: number;
  end?: number;
}

let requests = new Map<string, Phases>();
const byResponse = new WeakMap<object, Phases>();
const byUpstream = new WeakMap<object, Phases>();
let gcs: Array<[number, number, number]> = [];
let syncs: Array<[number, number, number, string]> = [];
let socketWrites = { count: 0, bytes: 0 };
let asyncResources: Record<string, number> = {};
let intervals: Array<[number, number, string]> = [];
let handOffs: Array<[number, number]> = [];

// Messages to worker threads (the store's): timed, since waking the thread can cost the caller its CPU.
const postMessage = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
  const start = now();
  try {
    return postMessage.apply(this, args);
  } finally {
    handOffs.push([start, now() - start]);
  }
};

/** Where a timer was set: the first frame outside node's internals and this file. */
function setAt(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(2);
  const frame = frames.find((f) => !f.includes('node:') && !f.includes('tail/probe.ts')) ?? frames[0] ?? '';
  return frame
    .trim()
    .replace(/^at /, '')
    .replace(/\(?file:\/\/[^)]*\/(src|node_modules)\//, '$1/')
    .replace(/\)$/, '');
}

// Periodic work on the main thread (the recorder's tick, the journal's sync, metrics…): each run timed.
const realSetInterval = globalThis.setInterval;
globalThis.setInterval = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const where = setAt();
  return realSetInterval(
    (...a: unknown[]) => {
      const start = now();
      try {
        callback(...a);
      } finally {
        intervals.push([start, now() - start, where]);
      }
    },
    ms,
    ...args,
  );
}) as typeof setInterval;

diagnostics.subscribe('http.server.request.start', (message) => {
  const { request, response } = message as { request: { headers: Record<string, string> }; response: object };
  const id = request.headers[ID_HEADER];
  if (!id) return;
  const phases: Phases = { start: now() };
  requests.set(id, phases);
  byResponse.set(response, phases);
});
diagnostics.subscribe('http.server.response.finish', (message) => {
  const phases = byResponse.get((message as { response: object }).response);
  if (phases) phases.end = now();
});
diagnostics.subscribe('tracing:fastify.request.handler:start', (message) => {
  const { reply } = message as { reply: { raw: object } };
  const phases = byResponse.get(reply.raw);
  if (phases) phases.handler = now();
});
diagnostics.subscribe('undici:request:create', (message) => {
  const { request } = message as { request: { headers: unknown } };
  const headers = request.headers as string[] | string;
  let id: string | undefined;
  if (Array.isArray(headers)) {
    const at = headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === ID_HEADER);
    id = at >= 0 ? headers[at + 1] : undefined;
  } else {
    id = new RegExp(`^${ID_HEADER}: (.*)$`, 'im').exec(headers)?.[1]?.trim();
  }
  const phases = id ? requests.get(id) : undefined;
  if (!phases) return;
  phases.create = now();
  byUpstream.set(request, phases);
});
diagnostics.subscribe('undici:request:headers', (message) => {
  const phases = byUpstream.get((message as { request: object }).request);
  if (phases) phases.headers = now();
});
diagnostics.subscribe('undici:request:trailers', (message) => {
  const phases = byUpstream.get((message as { request: object }).request);
  if (phases) phases.trailers = now();
});

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = ((entry as { detail?: { kind?: number } }).detail?.kind ?? 0) as number;
    gcs.push([entry.startTime, entry.duration, kind]);
  }
}).observe({ entryTypes: ['gc'] });

/** What a file descriptor is, read once per descriptor: the journal, a standard stream, or another file. */
const fdKinds = new Map<number, string>();
function fdKind(fd: number): string {
  let kind = fdKinds.get(fd);
  if (!kind) {
    let path = '';
    try {
      path = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {}
    kind = /journal-\d+\.ndjson$/.test(path) ? 'journal' : fd <= 2 ? 'stdio' : 'other';
    fdKinds.set(fd, kind);
  }
  return kind;
}
const skipJournal = process.env.TAIL_PROBE_SKIP_JOURNAL === '1';
const { writeSync, writeFileSync, openSync, closeSync } = fs;
// Descriptors are reused once closed: forget what they were.
fs.openSync = ((...args: Parameters<typeof openSync>) => {
  const fd = openSync(...args);
  fdKinds.delete(fd);
  return fd;
}) as typeof openSync;
fs.closeSync = ((fd: number) => {
  fdKinds.delete(fd);
  closeSync(fd);
}) as typeof closeSync;
fs.writeSync = ((fd: number, buffer: any, ...rest: any[]) => {
  const kind = fdKind(fd);
  const start = now();
  const bytes =
    skipJournal && kind === 'journal' ? (rest[1] ?? buffer.length) : (writeSync as any)(fd, buffer, ...rest);
  syncs.push([start, now() - start, bytes, kind]);
  return bytes;
}) as typeof writeSync;
fs.writeFileSync = ((...args: Parameters<typeof writeFileSync>) => {
  const start = now();
  writeFileSync(...args);
  syncs.push([start, now() - start, 0, 'writeFileSync']);
}) as typeof writeFileSync;
syncBuiltinESMExports(); // `import { writeSync } from 'node:fs'` in modules loaded later sees these

const socketProto = net.Socket.prototype as unknown as Record<string, (...args: any[]) => unknown>;
const writeGeneric = socketProto._writeGeneric as (...args: any[]) => unknown;
socketProto._writeGeneric = function (this: unknown, writev: boolean, data: any, ...rest: any[]) {
  socketWrites.count++;
  socketWrites.bytes += writev
    ? (data as Array<{ chunk: Buffer | string }>).reduce((n, c) => n + (c.chunk?.length ?? 0), 0)
    : (data?.length ?? 0);
  return writeGeneric.call(this, writev, data, ...rest);
};

if (process.env.TAIL_PROBE_PROMISES === '1') {
  createHook({
    init(_id, type) {
      asyncResources[type] = (asyncResources[type] ?? 0) + 1;
    },
  }).enable();
}

const delay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
let profiler: v8.GCProfiler | undefined;
let window = { start: 0, heapUsed: 0, elu: performance.eventLoopUtilization() };

function reset(): void {
  requests = new Map();
  gcs = [];
  syncs = [];
  socketWrites = { count: 0, bytes: 0 };
  asyncResources = {};
  intervals = [];
  handOffs = [];
  delay.reset();
  delay.enable();
  profiler?.stop();
  profiler = new v8.GCProfiler();
  profiler.start();
  window = {
    start: now(),
    heapUsed: v8.getHeapStatistics().used_heap_size,
    elu: performance.eventLoopUtilization(),
  };
}

function dump(): object {
  delay.disable();
  const stats = (profiler?.stop() ?? { statistics: [] }) as {
    statistics: Array<{
      gcType: string;
      cost: number;
      beforeGC: { heapStatistics: { usedHeapSize: number } };
      afterGC: { heapStatistics: { usedHeapSize: number } };
    }>;
  };
  profiler = undefined;
  // Allocated = what the heap grew by between collections, summed (what each collection found, plus the rest).
  let allocated = 0;
  let after = window.heapUsed;
  for (const s of stats.statistics) {
    allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - after);
    after = s.afterGC.heapStatistics.usedHeapSize;
  }
  allocated += Math.max(0, v8.getHeapStatistics().used_heap_size - after);
  const ms = (ns: number) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  return {
    window_ms: now() - window.start,
    requests: [...requests].map(([id, p]) => [id, p.start, p.handler, p.create, p.headers, p.trailers, p.end]),
    gcs,
    syncs,
    intervals,
    hand_offs: handOffs,
    allocated_bytes: allocated,
    socket_writes: socketWrites,
    async_resources: asyncResources,
    event_loop_delay: {
      p50_ms: ms(delay.percentile(50)),
      p90_ms: ms(delay.percentile(90)),
      p99_ms: ms(delay.percentile(99)),
      p999_ms: ms(delay.percentile(99.9)),
      max_ms: ms(delay.max),
    },
    event_loop_utilization: performance.eventLoopUtilization(window.elu).utilization,
  };
}

const server = createServer((req, res) => {
  let body = '{}';
  if (req.url === '/dump') body = JSON.stringify(dump());
  else reset();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
});
server.unref();
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ probe: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
