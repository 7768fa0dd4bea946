// Where the bridge's tail comes from under load: the three `npm run bench` cases at c=32 against
// bridges started with the probe (probe.ts) — as they are, and in variants that each take one
// suspect away or change one thing — and the floor proxy, in interleaved rounds. Prints one table
// per case and writes bench/tail-results.json (each figure the median of the rounds).
// node bench/tail/run.ts [--variants floor,base,…] [--cases small,streaming,80k] [--seconds S] [--rounds N]
//                        [--concurrency C] [--baseline GIT-REF]
// Variants: direct (the upstream itself), floor, base, noprobe (no probe: what it costs), semi32 / semi64 (--max-semi-space-size),
// nojournal (journal appends not written: their cost; loses records), storenice / storenice10 /
// storenice5 (the store's worker threads at nice 19, 10, 5), gc1 (--single-threaded-gc: no GC helper threads), tracegc (--trace-gc, its
// lines counted), promises (async resources counted).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Case, caseNamed } from '../cases.ts';
import type { Target } from '../load.ts';
import { checkoutBridge, ROOT, start, startBridge, startUpstream, stopAll, writeBridgeConfig } from '../processes.ts';
import { type Analysis, analyse, type Dump, PHASES } from './analyse.ts';
import { timedLoad } from './load.ts';
import { type ThreadTimes, threadIds, threadTimes, timesSince } from './threads.ts';

const argv = process.argv.slice(2);
const value = (name: string) => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const SECONDS = Number(value('--seconds') ?? 4);
const ROUNDS = Number(value('--rounds') ?? 3);
const CONCURRENCY = Number(value('--concurrency') ?? 32);
const CASES: Record<string, string> = {
  small: 'chat-blocking',
  streaming: 'messages-streaming',
  '80k': 'claude-code-80k',
};
const chosenCases = (value('--cases') ?? 'small,streaming,80k').split(',');
const chosenVariants = (value('--variants') ?? 'floor,base,noprobe,semi32,semi64,nojournal,storenice').split(',');
/** A git commit whose bridge runs as the variant `before` (beside `base`, this tree's): a cut's before and after in one run. */
const BASELINE = value('--baseline');

interface Variant {
  /** The upstream itself: what the others add to. */
  direct?: boolean;
  /** The bridge's entry point, when not this tree's. */
  cli?: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
  floor?: boolean;
  probe?: boolean;
  /** Run once the process is up (e.g. renice a thread). */
  after?(pid: number): void;
}

const VARIANTS: Record<string, Variant> = {
  direct: { direct: true },
  floor: { floor: true },
  base: {},
  noprobe: { probe: false },
  semi32: { nodeArgs: ['--max-semi-space-size=32'] },
  semi64: { nodeArgs: ['--max-semi-space-size=64'] },
  nojournal: { env: { TAIL_PROBE_SKIP_JOURNAL: '1' } },
  storenice: { after: (pid) => renice(pid, 19) },
  storenice10: { after: (pid) => renice(pid, 10) },
  storenice5: { after: (pid) => renice(pid, 5) },
  gc1: { nodeArgs: ['--single-threaded-gc'] },
  tracegc: { nodeArgs: ['--trace-gc'] },
  promises: { env: { TAIL_PROBE_PROMISES: '1' } },
};

/** The store's worker threads at a lower priority (the writer and, once started, the readers). */
function renice(pid: number, nice: number): void {
  for (const tid of threadIds(pid, 'WorkerThread')) setPriority(tid, nice);
}

const PROBE_URL = /\{"probe":"([^"]+)"\}/;
/** --trace-gc's line for one collection: its kind, heap before and after, and its pause. */
const TRACE_GC =
  /: (Scavenge|Mark-Compact|Minor Mark-Sweep)\b.*? ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB.*?, ([\d.]+) \/ [\d.]+ ms/;

interface Running {
  name: string;
  pid: number;
  /** The bridge's origin, for its recorder's backlog (/readyz); none for the floor. */
  origin: string | undefined;
  probe: string | undefined;
  target(c: Case): Target;
  /** --trace-gc lines seen since the last take (tracegc only). */
  takeTrace(): string[];
}

async function startVariant(
  name: string,
  work: string,
  upstream: { upstreamUrl: string; mcpUrl: string; pid: number },
): Promise<Running> {
  const { upstreamUrl, mcpUrl } = upstream;
  const variant = VARIANTS[name] as Variant;
  if (variant.direct) {
    return {
      name,
      pid: upstream.pid,
      origin: undefined,
      probe: undefined,
      target: (c) => ({
        name,
        origin: upstreamUrl,
        path: c.upstreamPath,
        headers: { 'content-type': 'application/json' },
        body: c.body,
      }),
      takeTrace: () => [],
    };
  }
  const probe = variant.probe === false ? [] : ['--import', './bench/tail/probe.ts'];
  const patterns = variant.probe === false ? [] : [PROBE_URL];
  let lines: string[] = [];
  if (variant.floor) {
    const floor = await start([...probe, 'bench/floor-proxy.ts', upstreamUrl], [/\{"url":"([^"]+)"\}/, ...patterns]);
    const origin = floor.matches[0]?.[1] as string;
    return {
      name,
      pid: floor.child.pid as number,
      origin: undefined,
      probe: floor.matches[1]?.[1],
      target: (c) => ({
        name,
        origin,
        path: c.upstreamPath,
        headers: { 'content-type': 'application/json' },
        body: c.body,
      }),
      takeTrace: () => [],
    };
  }
  const env = variant.env ?? {};
  for (const [k, v] of Object.entries(env)) process.env[k] = v; // the child inherits them
  const bridge = await startBridge(writeBridgeConfig(join(work, name), upstreamUrl, mcpUrl), {
    nodeArgs: [...probe, ...(variant.nodeArgs ?? [])],
    patterns,
    cli: variant.cli,
  });
  for (const k of Object.keys(env)) delete process.env[k];
  if (variant.nodeArgs?.includes('--trace-gc')) {
    bridge.child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
  }
  variant.after?.(bridge.child.pid as number);
  return {
    name,
    pid: bridge.child.pid as number,
    origin: bridge.url,
    probe: bridge.matches[1]?.[1],
    target: (c) => c.target(bridge.url, bridge.token),
    takeTrace: () => {
      const taken = lines;
      lines = [];
      return taken;
    },
  };
}

/** Counts and pauses from --trace-gc lines, and the bytes allocated between collections. */
function traceSummary(lines: string[], requests: number) {
  const gcs = lines.flatMap((line) => {
    const m = TRACE_GC.exec(line);
    return m ? [{ kind: m[1] as string, before: Number(m[2]), after: Number(m[3]), pause: Number(m[4]) }] : [];
  });
  let allocatedMb = 0;
  for (let i = 1; i < gcs.length; i++) allocatedMb += Math.max(0, (gcs[i]?.before ?? 0) - (gcs[i - 1]?.after ?? 0));
  const of = (kind: string) => gcs.filter((g) => g.kind === kind);
  return {
    scavenges_per_1k: (of('Scavenge').length / requests) * 1000,
    mark_compacts: of('Mark-Compact').length,
    pause_ms_per_request: gcs.reduce((s, g) => s + g.pause, 0) / requests,
    allocated_kb_per_request: (allocatedMb * 1024) / requests,
  };
}

/** CPU and waits for a CPU, per request: by thread of the system, and in all for the upstream and this load generator. */
function perRequestTimes(before: Record<string, ThreadTimes>, after: Record<string, ThreadTimes>, requests: number) {
  const times = timesSince(before, after);
  const by = Object.fromEntries(
    Object.entries(times).map(([name, t]) => [name, { cpu_ms: t.cpuMs / requests, wait_ms: t.waitMs / requests }]),
  );
  const sum = (key: 'cpuMs' | 'waitMs') => Object.values(times).reduce((n, t) => n + t[key], 0) / requests;
  return { by_thread: by, cpu_ms: sum('cpuMs'), wait_ms: sum('waitMs') };
}

async function measure(run: Running, c: Case, round: number, upstreamPid: number) {
  const target = run.target(c);
  if (run.probe) await fetch(`${run.probe}/reset`, { method: 'POST' });
  run.takeTrace();
  const before = { system: threadTimes(run.pid), upstream: threadTimes(upstreamPid), generator: threadTimes() };
  const result = await timedLoad(target, CONCURRENCY, SECONDS * 1000, `${run.name}-${round}`);
  const requests = result.timed.length;
  const system = perRequestTimes(before.system, threadTimes(run.pid), requests);
  const upstream = perRequestTimes(before.upstream, threadTimes(upstreamPid), requests);
  const generator = perRequestTimes(before.generator, threadTimes(), requests);
  const trace = run.takeTrace();
  // Whether the store kept up: records not yet in it when the window ended.
  const ready = run.origin
    ? ((await (await fetch(`${run.origin}/readyz`)).json()) as { recorder: { pending: number; backlogBytes: number } })
    : undefined;
  const figures = run.probe
    ? analyse((await (await fetch(`${run.probe}/dump`)).json()) as Dump, result.timed)
    : clientOnly(result.timed);
  return {
    rps: result.rps,
    errors: result.errors,
    ...figures,
    cpu_ms_per_request: system.cpu_ms,
    threads: system.by_thread,
    /** Milliseconds per request each process spent runnable but without a CPU. */
    waited_for_cpu_ms: { system: system.wait_ms, upstream: upstream.wait_ms, generator: generator.wait_ms },
    cpu: { upstream_ms: upstream.cpu_ms, generator_ms: generator.cpu_ms },
    store_behind: ready ? { records: ready.recorder.pending, journal_bytes: ready.recorder.backlogBytes } : undefined,
    ...(trace.length ? { trace_gc: traceSummary(trace, requests) } : {}),
  };
}

function clientOnly(timed: Array<{ ms: number }>) {
  const sorted = timed.map((t) => t.ms).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))] as number;
  return {
    requests: timed.length,
    latency: { p50_ms: at(50), p99_ms: at(99), p999_ms: at(99.9) },
  };
}

/** Each numeric leaf the median of the rounds (the first round's other leaves). */
function medianOf(values: unknown[]): unknown {
  const [first] = values;
  if (typeof first === 'number') {
    const numbers = values.filter((v): v is number => typeof v === 'number' && !Number.isNaN(v)).sort((a, b) => a - b);
    return numbers.length ? numbers[Math.floor(numbers.length / 2)] : Number.NaN;
  }
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const keys = new Set(values.flatMap((v) => Object.keys((v ?? {}) as object)));
    return Object.fromEntries(
      [...keys].map((k) => [k, medianOf(values.map((v) => (v as Record<string, unknown>)?.[k]))]),
    );
  }
  return first;
}

const f = (n: unknown, digits = 2) => (typeof n === 'number' && !Number.isNaN(n) ? n.toFixed(digits) : '–');

type Row = Partial<Analysis> & {
  rps: number;
  /** Over the upstream itself, round by round (when `direct` ran): median of the rounds. */
  added?: { p50_ms: number; p99_ms: number; p999_ms: number };
  spread?: string;
  cpu_ms_per_request: number;
  threads: Record<string, { cpu_ms: number; wait_ms: number }>;
  waited_for_cpu_ms: { system: number; upstream: number; generator: number };
  store_behind?: { records: number; journal_bytes: number };
};

function table(label: string, byVariant: Record<string, Row>): string {
  const lines = [
    `### ${label} (c=${CONCURRENCY}, ${SECONDS} s windows, median of ${ROUNDS} rounds)`,
    '',
    '| variant | req/s | CPU ms/req | latency p50 / p99 / p99.9 ms (p99 range) | added over direct p50 / p99 / p99.9 ms | GC scavenges per 1k req, pause ms/req, max ms | journal writeSync ms/req, max ms | store hand-off (postMessage) ms/req, p50, max ms | allocated KB/req | socket writes/req | loop delay p99 ms | CPU ms/req: main / store / GC helpers | waited for a CPU ms/req: main thread / upstream / load generator |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, a] of Object.entries(byVariant)) {
    const t = (name: string) => a.threads?.[name]?.cpu_ms;
    const w = a.waited_for_cpu_ms;
    lines.push(
      `| ${name} | ${f(a.rps, 0)} | ${f(a.cpu_ms_per_request, 3)} | ${f(a.latency?.p50_ms)} / ${f(a.latency?.p99_ms)} / ${f(a.latency?.p999_ms)} (${a.spread ?? '–'}) ` +
        `| ${a.added ? `${f(a.added.p50_ms)} / ${f(a.added.p99_ms)} / ${f(a.added.p999_ms)}` : '–'} ` +
        `| ${f(a.gc?.scavenges_per_1k, 1)}, ${f(a.gc?.pause_ms_per_request, 3)}, ${f(a.gc?.max_pause_ms)} ` +
        `| ${f(a.journal?.ms_per_request, 3)}, ${f(a.journal?.max_ms)} ` +
        `| ${f(a.store_hand_offs?.ms_per_request, 3)}, ${f(a.store_hand_offs?.p50_ms)}, ${f(a.store_hand_offs?.max_ms)} | ${f(a.allocated_kb_per_request, 0)} | ${f(a.socket_writes_per_request, 1)} ` +
        `| ${f(a.event_loop_delay?.p99_ms)} | ${f(t('MainThread'), 3)} / ${f(t('WorkerThread'), 3)} / ${f(t('V8Worker'), 3)} ` +
        `| ${f(a.threads?.MainThread?.wait_ms, 3)} / ${f(w?.upstream, 3)} / ${f(w?.generator, 3)} |`,
    );
  }
  lines.push(
    '',
    `| variant | tail excess ms (slowest 1 % over the middle fifth) | of it, % (median of each round's share): GC pauses / journal writes / other sync writes / interval timers / store hand-offs / rest | by phase: ${PHASES.join(' / ')} | server time p50 / p99 ms | records not yet in the store at the end |`,
    '|---|---|---|---|---|---|',
  );
  for (const [name, a] of Object.entries(byVariant)) {
    if (!a.tail) continue;
    const c = a.tail.shares as Record<string, number>;
    const pc = (x: number | undefined) => (x === undefined ? '–' : (x * 100).toFixed(0));
    lines.push(
      `| ${name} | ${f(a.tail.excess_ms)} | ${pc(c.gc_pauses)} / ${pc(c.journal_writes)} / ${pc(c.other_sync_writes)} / ${pc(c.interval_timers)} / ${pc(c.store_hand_offs)} / ${pc(c.rest)} ` +
        `| ${PHASES.map((k) => f(a.tail?.phases_ms[k])).join(' / ')} | ${f(a.server?.p50_ms)} / ${f(a.server?.p99_ms)} | ${f(a.store_behind?.records, 0)} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-tail-'));
  const upstream = await startUpstream();
  const upstreamPid = upstream.pid;
  if (BASELINE) {
    VARIANTS.before = { cli: checkoutBridge(BASELINE, join(work, 'before-tree')) };
    if (!chosenVariants.includes('before')) chosenVariants.splice(chosenVariants.indexOf('base'), 0, 'before');
  }
  const runs: Running[] = [];
  for (const name of chosenVariants) runs.push(await startVariant(name, work, upstream));
  await sleep(1_000);
  const results: Record<string, Record<string, Array<Awaited<ReturnType<typeof measure>>>>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of chosenCases) {
      const c = caseNamed(CASES[key] as string);
      results[key] ??= {};
      for (const run of runs) {
        process.stderr.write(`… round ${round + 1}/${ROUNDS}: ${key}, ${run.name}\n`);
        if (round === 0) await timedLoad(run.target(c), CONCURRENCY, 1_000, 'warm'); // compiled, pools grown
        const byVariant = results[key] as Record<string, Array<Awaited<ReturnType<typeof measure>>>>;
        byVariant[run.name] ??= [];
        const list = byVariant[run.name] as Array<Awaited<ReturnType<typeof measure>>>;
        list.push(await measure(run, c, round, upstreamPid));
      }
    }
  }
  const summary: Record<string, Record<string, unknown>> = {};
  const out: string[] = [];
  for (const [key, byVariant] of Object.entries(results)) {
    const medians: Record<string, Row> = {};
    const direct = byVariant.direct;
    for (const [name, list] of Object.entries(byVariant)) {
      const p99s = list.map((a) => a.latency.p99_ms);
      const added =
        direct && name !== 'direct'
          ? (medianOf(
              list.map((a, i) => {
                const d = (direct[i] as (typeof list)[number]).latency;
                return {
                  p50_ms: a.latency.p50_ms - d.p50_ms,
                  p99_ms: a.latency.p99_ms - d.p99_ms,
                  p999_ms: a.latency.p999_ms - d.p999_ms,
                };
              }),
            ) as Row['added'])
          : undefined;
      medians[name] = {
        ...(medianOf(list) as Row),
        spread: `${f(Math.min(...p99s))}–${f(Math.max(...p99s))}`,
        ...(added ? { added } : {}),
      };
    }
    summary[key] = medians;
    out.push(table(`${key} (${CASES[key]})`, medians));
  }
  process.stdout.write(`\n${out.join('\n\n')}\n`);
  writeFileSync(
    join(ROOT, 'bench/tail-results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, node: process.version, concurrency: CONCURRENCY, seconds: SECONDS, rounds: ROUNDS, cases: summary }, null, 2)}\n`,
  );
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
