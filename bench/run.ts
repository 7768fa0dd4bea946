// npm run bench [-- OPTIONS]: the bridge (recording on, embedded store) against the upstream itself
// and a bare floor proxy, in one run; prints a table and writes bench/results.json.
//   --quick              short windows and fewer samples (~1 min)
//   --samples N          sequential latency samples per target and case (default 400)
//   --window-ms N        length of each throughput window (default 3000)
//   --compare URL        also measure another gateway: OpenAI routes at URL/v1/..., Anthropic at URL/v1/messages
//   --compare-openai URL, --compare-anthropic URL   when the two live under different prefixes
//   --compare-header 'Name: value'                 sent to the compared gateway (repeatable: auth, routing)
//   --compare-pid PID    count this process's CPU as the compared gateway's (repeatable)
//   --upstream-port N    the replaying upstream's port (fixed, so the compared gateway can point at it)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Case, caseNamed } from './cases.ts';
import { measureCpu, memoryKb, processTree } from './cpu.ts';
import { idleStreams } from './idle.ts';
import { latencies, percentile, type Target, throughput } from './load.ts';
import { ROOT, start, startBridge, startUpstream, stop, stopAll, writeBridgeConfig } from './processes.ts';
import { printReport, type Results } from './report.ts';
import { toolLoop } from './tool-loop.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const values = (name: string) => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1] as string] : []));
const value = (name: string) => values(name)[0];
const quick = flag('--quick');
const SAMPLES = Number(value('--samples') ?? (quick ? 120 : 400));
const WINDOW_MS = Number(value('--window-ms') ?? (quick ? 1_000 : 3_000));
const ROUNDS = 4; // the targets take turns, so drift on a shared machine hits them alike
const CONCURRENCY = [32, 256];
const WORKERS = [1, 2];
const IDLE_STREAMS = 1_000;
const compare = {
  openai: value('--compare-openai') ?? value('--compare'),
  anthropic: value('--compare-anthropic') ?? value('--compare'),
  headers: Object.fromEntries(
    values('--compare-header').map((h) => [
      h.slice(0, h.indexOf(':')).trim().toLowerCase(),
      h.slice(h.indexOf(':') + 1).trim(),
    ]),
  ),
  pids: values('--compare-pid').map(Number),
};

/** The cases of the table: what agents send most, and what costs the bridge most. */
const CASES: Array<{ label: string; case: Case }> = [
  { label: 'small chat', case: caseNamed('chat-blocking') },
  { label: 'streaming', case: caseNamed('messages-streaming') },
  { label: '80 KB Claude Code', case: caseNamed('claude-code-80k') },
];

const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const stats = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) };
};

function direct(c: Case, origin: string, name: string, headers: Record<string, string> = {}): Target {
  return {
    name,
    origin,
    path: c.upstreamPath,
    headers: { 'content-type': 'application/json', ...headers },
    body: c.body,
  };
}

/** The compared gateway's request for a case, when it was given a URL for that API. */
function compared(c: Case): Target | undefined {
  const base = c.upstreamPath === '/v1/messages' ? compare.anthropic : compare.openai;
  if (!base) return undefined;
  const url = new URL(base);
  return {
    name: 'compare',
    origin: url.origin,
    path: url.pathname.replace(/\/$/, '') + c.upstreamPath,
    headers: { 'content-type': 'application/json', ...compare.headers },
    body: c.body,
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-bench-'));
  const { upstreamUrl, mcpUrl } = await startUpstream(Number(value('--upstream-port') ?? 0));
  const floor = await start(['bench/floor-proxy.ts', upstreamUrl], [/\{"url":"([^"]+)"\}/]);
  const floorUrl = floor.matches[0]?.[1] as string;
  const floorPid = floor.child.pid as number;
  const results: Results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', os: `Linux ${release()}`, node: process.version },
    quick,
    samples: SAMPLES,
    window_ms: WINDOW_MS,
    cases: {},
    memory: {},
  };
  for (const { label, case: c } of CASES) {
    results.cases[label] = { request_bytes: Buffer.byteLength(c.body), latency: {}, added: {}, throughput: {} };
  }

  for (const workers of WORKERS) {
    progress(`bridge with ${workers} worker${workers > 1 ? 's' : ''}`);
    const config = writeBridgeConfig(join(work, `w${workers}`), upstreamUrl, mcpUrl);
    const bridge = await startBridge(config, { workers });
    await new Promise((r) => setTimeout(r, 500)); // the workers' store threads settle
    const pids = processTree(bridge.child.pid as number);
    const idle = pids.map(memoryKb);
    for (const { label, case: c } of CASES) {
      const entry = results.cases[label] as Results['cases'][string];
      const viaBridge = c.target(bridge.url, bridge.token);
      if (workers === 1) {
        progress(`${label}: latency`);
        const targets: Array<[string, Target]> = [
          ['direct', direct(c, upstreamUrl, 'direct')],
          ['floor', direct(c, floorUrl, 'floor')],
          ['bridge', viaBridge],
        ];
        const other = compared(c);
        if (other) targets.push(['compare', other]);
        const times: Record<string, number[]> = Object.fromEntries(targets.map(([name]) => [name, []]));
        for (let round = 0; round < ROUNDS; round++) {
          for (const [name, target] of targets) {
            times[name]?.push(...(await latencies(target, Math.ceil(SAMPLES / ROUNDS), 20)));
          }
        }
        for (const [name] of targets) entry.latency[name] = stats(times[name] as number[]);
        const base = entry.latency.direct as { p50_ms: number; p99_ms: number };
        for (const [name] of targets.slice(1)) {
          const l = entry.latency[name] as { p50_ms: number; p99_ms: number };
          entry.added[name] = { p50_ms: l.p50_ms - base.p50_ms, p99_ms: l.p99_ms - base.p99_ms };
        }
      }
      for (const concurrency of CONCURRENCY) {
        progress(`${label}: c=${concurrency}, ${workers} worker${workers > 1 ? 's' : ''}`);
        const runs: Array<[string, Target, number[]]> = [[`bridge_${workers}`, viaBridge, pids]];
        if (workers === 1) {
          runs.unshift(['floor', direct(c, floorUrl, 'floor'), [floorPid]]);
          const other = compared(c);
          if (other) runs.push(['compare', other, compare.pids]);
        }
        entry.throughput[concurrency] ??= {};
        const row = entry.throughput[concurrency];
        for (const [name, target, measured] of runs) {
          await throughput(target, concurrency, Math.min(500, WINDOW_MS / 2)); // warm-up, not counted
          const { result, cpuMs } = await measureCpu(measured, () => throughput(target, concurrency, WINDOW_MS));
          row[name] = {
            rps: result.rps,
            cpu_ms_per_request: measured.length ? cpuMs / result.requests : null,
          };
        }
      }
    }
    const loaded = pids.map(memoryKb);
    results.memory[`bridge_${workers}`] = pids.map((_pid, i) => ({
      role: workers === 1 ? 'process' : i === 0 ? 'primary' : 'worker',
      idle_kb: (idle[i] as { rss: number }).rss,
      peak_kb: (loaded[i] as { peak: number }).peak,
    }));
    if (workers === 1) {
      progress('tool loop');
      results.tool_loop = await toolLoop(bridge, upstreamUrl, mcpUrl, Math.min(SAMPLES, 200));
      progress('idle streams');
      const streaming = caseNamed('messages-streaming');
      results.idle_streams = {
        count: IDLE_STREAMS,
        bridge_kb_per_stream: await idleStreams(streaming.target(bridge.url, bridge.token), pids, IDLE_STREAMS),
        floor_kb_per_stream: await idleStreams(direct(streaming, floorUrl, 'floor'), [floorPid], IDLE_STREAMS),
      };
    }
    await stop(bridge.child); // the bridge stops its embedded database before its directory goes
  }

  printReport(results); // adds the targets met and missed
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write('\nwritten to bench/results.json\n');
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
