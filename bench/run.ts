// npm run bench [-- OPTIONS]: the bridge (recording on, embedded store) against the upstream itself
// and a bare floor proxy, in one run; prints a table and writes bench/results.json. Every target
// takes its turn in each round, so a neighbour's load on a shared machine hits them alike.
//   --quick              short windows, fewer samples and rounds (~1 min; the default run takes ~4)
//   --samples N          sequential latency samples per target and case (default 400)
//   --window-ms N        one throughput window (default 2000); each target gets --rounds of them
//   --rounds N           rounds per measurement (default 3); medians are reported
//   --only LABEL         only this case ('small chat', 'streaming', '80 KB Claude Code'; repeatable)
//   --workers 1,2        the bridges to run, by worker count (default 1,2)
//   --skip-idle, --skip-tool-loop                  leave those measurements out
//   --compare URL        also measure another gateway: OpenAI routes at URL/v1/..., Anthropic at URL/v1/messages
//   --compare-openai URL, --compare-anthropic URL   when the two live under different prefixes
//   --compare-header 'Name: value'                 sent to the compared gateway (repeatable: auth, routing)
//   --compare-pid PID    count this process's CPU as the compared gateway's (repeatable)
//   --file-sink          the bridges also stream every record to a file audit sink (its cost)
//   --upstream-port N    the replaying upstream's port (fixed, so the compared gateway can point at it)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Case, caseNamed } from './cases.ts';
import { measureCpu, memoryKb, processTree } from './cpu.ts';
import { idleStreams } from './idle.ts';
import { INSPECTOR_URL, Inspector } from './inspector.ts';
import { latencies, percentile, type Target, throughput } from './load.ts';
import { ROOT, start, startBridge, startUpstream, stop, stopAll, writeBridgeConfig } from './processes.ts';
import { printReport, type Results } from './report.ts';
import { toolLoop } from './tool-loop.ts';

const argv = process.argv.slice(2);
const values = (name: string) => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1] as string] : []));
const value = (name: string) => values(name)[0];
const quick = argv.includes('--quick');
const SAMPLES = Number(value('--samples') ?? (quick ? 120 : 400));
const WINDOW_MS = Number(value('--window-ms') ?? (quick ? 700 : 2_000));
const ROUNDS = Number(value('--rounds') ?? (quick ? 2 : 3));
const CONCURRENCY = [32, 256];
const IDLE_STREAMS = 1_000;
const WORKERS = (value('--workers') ?? '1,2').split(',').map(Number);
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
].filter((c) => !values('--only').length || values('--only').includes(c.label));

const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** With --file-sink, a file audit sink in the bridge's own directory. */
const sinkLines = (dir: string) =>
  argv.includes('--file-sink') ? ['audit_sinks:', `  - { type: file, path: "${join(dir, 'sink.ndjson')}" }`] : [];

function direct(c: Case, origin: string, name: string): Target {
  return { name, origin, path: c.upstreamPath, headers: { 'content-type': 'application/json' }, body: c.body };
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

/** A process tree serving requests: where its CPU and memory are read. */
interface Server {
  name: string;
  target(c: Case): Target | undefined;
  pids(): number[];
}

/**
 * Idle streams on a bridge and a floor of their own, started with an inspector so the heap can
 * be read after a full collection: resident memory alone mostly shows when V8 grows its heap.
 */
async function measureIdleStreams(work: string, upstreamUrl: string, mcpUrl: string) {
  progress('idle streams');
  const streaming = caseNamed('messages-streaming');
  const inspect = ['--inspect=127.0.0.1:0'];
  const bridge = await startBridge(writeBridgeConfig(join(work, 'idle'), upstreamUrl, mcpUrl), {
    nodeArgs: inspect,
    patterns: [INSPECTOR_URL],
  });
  const floor = await start([...inspect, 'bench/floor-proxy.ts', upstreamUrl], [/\{"url":"([^"]+)"\}/, INSPECTOR_URL]);
  const measured: Record<string, { heap_kb: number; rss_kb: number }> = {};
  for (const [name, target, child, inspectorUrl] of [
    ['bridge', streaming.target(bridge.url, bridge.token), bridge.child, bridge.matches[1]?.[1]],
    ['floor', direct(streaming, floor.matches[0]?.[1] as string, 'floor'), floor.child, floor.matches[1]?.[1]],
  ] as const) {
    await latencies(target, 0, 200); // its code paths compiled first
    const inspector = await Inspector.connect(inspectorUrl as string);
    measured[name] = await idleStreams(target, child.pid as number, inspector, IDLE_STREAMS);
    inspector.close();
    await stop(child);
  }
  const { bridge: b, floor: f } = measured as Record<'bridge' | 'floor', { heap_kb: number; rss_kb: number }>;
  return {
    count: IDLE_STREAMS,
    bridge_heap_kb_per_stream: b.heap_kb,
    bridge_rss_kb_per_stream: b.rss_kb,
    floor_heap_kb_per_stream: f.heap_kb,
    floor_rss_kb_per_stream: f.rss_kb,
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-bench-'));
  const { upstreamUrl, mcpUrl } = await startUpstream(Number(value('--upstream-port') ?? 0));
  const floorProcess = await start(['bench/floor-proxy.ts', upstreamUrl], [/\{"url":"([^"]+)"\}/]);
  const floorUrl = floorProcess.matches[0]?.[1] as string;
  const results: Results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', os: `Linux ${release()}`, node: process.version },
    quick,
    samples: SAMPLES,
    window_ms: WINDOW_MS,
    rounds: ROUNDS,
    cases: {},
    memory: {},
  };

  const bridges = [];
  for (const workers of WORKERS) {
    progress(`starting a bridge with ${workers} worker${workers > 1 ? 's' : ''}`);
    bridges.push({
      workers,
      ...(await startBridge(
        writeBridgeConfig(join(work, `w${workers}`), upstreamUrl, mcpUrl, sinkLines(join(work, `w${workers}`))),
        {
          workers,
        },
      )),
    });
  }
  await new Promise((r) => setTimeout(r, 1_000)); // their store threads and MCP connections settle
  const servers: Server[] = [
    { name: 'floor', target: (c) => direct(c, floorUrl, 'floor'), pids: () => [floorProcess.child.pid as number] },
    ...bridges.map((b) => ({
      name: `bridge_${b.workers}`,
      target: (c: Case) => c.target(b.url, b.token),
      pids: () => processTree(b.child.pid as number),
    })),
  ];
  if (compare.openai || compare.anthropic)
    servers.push({ name: 'compare', target: compared, pids: () => compare.pids });
  const idle = Object.fromEntries(bridges.map((b) => [b.workers, processTree(b.child.pid as number).map(memoryKb)]));

  if (!argv.includes('--skip-idle')) results.idle_streams = await measureIdleStreams(work, upstreamUrl, mcpUrl);

  for (const { label, case: c } of CASES) {
    progress(`${label}: latency`);
    const entry: Results['cases'][string] = {
      request_bytes: Buffer.byteLength(c.body),
      latency: {},
      added: {},
      throughput: {},
    };
    results.cases[label] = entry;
    // Sequential: direct, the floor, the bridge (1 worker: one request is served by one process anyway).
    const sequential: Array<[string, Target]> = [['direct', direct(c, upstreamUrl, 'direct')]];
    for (const server of servers) {
      const target = server.target(c);
      if (target && server.name !== 'bridge_2')
        sequential.push([server.name === 'bridge_1' ? 'bridge' : server.name, target]);
    }
    const times: Record<string, number[]> = Object.fromEntries(sequential.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, target] of sequential) {
        times[name]?.push(...(await latencies(target, Math.ceil(SAMPLES / ROUNDS), 20)));
      }
    }
    for (const [name, list] of Object.entries(times)) {
      const sorted = [...list].sort((a, b) => a - b);
      entry.latency[name] = { p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) };
    }
    const base = entry.latency.direct as { p50_ms: number; p99_ms: number };
    for (const [name, l] of Object.entries(entry.latency)) {
      if (name !== 'direct') entry.added[name] = { p50_ms: l.p50_ms - base.p50_ms, p99_ms: l.p99_ms - base.p99_ms };
    }

    for (const concurrency of CONCURRENCY) {
      progress(`${label}: c=${concurrency}`);
      const rates: Record<string, number[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
      const cpu: Record<string, { ms: number; requests: number }> = Object.fromEntries(
        servers.map((s) => [s.name, { ms: 0, requests: 0 }]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        for (const server of servers) {
          const target = server.target(c);
          if (!target) continue;
          if (round === 0) await throughput(target, concurrency, Math.min(500, WINDOW_MS / 2)); // warm-up
          const pids = server.pids();
          const { result, cpuMs } = await measureCpu(pids, () => throughput(target, concurrency, WINDOW_MS));
          rates[server.name]?.push(result.rps);
          const sum = cpu[server.name] as { ms: number; requests: number };
          sum.ms += pids.length ? cpuMs : Number.NaN;
          sum.requests += result.requests;
        }
      }
      entry.throughput[concurrency] = Object.fromEntries(
        Object.entries(rates)
          .filter(([, list]) => list.length)
          .map(([name, list]) => {
            const used = cpu[name] as { ms: number; requests: number };
            const perRequest = used.ms / used.requests;
            return [name, { rps: median(list), cpu_ms_per_request: Number.isNaN(perRequest) ? null : perRequest }];
          }),
      );
    }
  }

  progress('tool loop');
  if (!argv.includes('--skip-tool-loop'))
    results.tool_loop = await toolLoop(
      bridges[0] as { url: string; token: string },
      upstreamUrl,
      mcpUrl,
      Math.min(SAMPLES, 200),
    );
  for (const b of bridges) {
    const pids = processTree(b.child.pid as number);
    results.memory[`bridge_${b.workers}`] = pids.map((pid, i) => ({
      role: b.workers === 1 ? 'process' : i === 0 ? 'primary' : 'worker',
      idle_kb: idle[b.workers]?.[i]?.rss ?? 0,
      peak_kb: memoryKb(pid).peak,
    }));
  }

  printReport(results); // adds the targets met and missed
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write('\nwritten to bench/results.json\n');
  await stopAll(); // each bridge stops its embedded database before the directory goes
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
