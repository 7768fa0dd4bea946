// npm run bench:agents [-- OPTIONS]: coding-agent sessions (Claude Code and Codex shaped, see
// sessions.ts) replayed many at once against the upstream itself ("direct"), the floor proxy and
// the bridge (recording on, embedded store), in interleaved rounds; added latency = system − direct
// per call. Prints a Markdown table and writes bench/agents-results.json and bench/agents-results.md.
// The method is in README.md, "Coding-agent sessions".
//   --sessions N       sessions at once (default 64)
//   --prompts N        prompts per session (default 15: the conversation grows from ~40 KB to ~200 KB)
//   --rounds N         rounds; every system runs once per round (default 3)
//   --codex-share F    share of Codex sessions (default 0.5)
//   --ttft-ms N, --token-ms N, --tokens N, --side-ms N   the upstream's pace (default 200, 10, 24, 60)
//   --tool-ms N, --think-ms N   the client's tool run and the user's pause between prompts (default 30, 100)
//   --systems a,b      which systems (default direct,floor,bridge[,compare])
//   --quick            16 sessions, 4 prompts, 2 rounds: a check that it all works
//   --skip-memory      no heap reading (it needs a round of its own per system)
//   --unpaired         each system in a round of its own, direct too (default: each system's calls
//                      paired with the same calls to the upstream itself, sent at the same moment)
//   --compare URL      another gateway: Anthropic at URL/v1/messages, OpenAI at URL/v1/responses
//   --compare-anthropic URL, --compare-openai URL, --compare-header 'Name: value' (repeatable), --compare-pid PID (repeatable)
//   --compare-runs-tools   the compared gateway injects the benchmark's MCP server's echo tool and runs the loop itself
//   --upstream-port N, --mcp-port N   fixed ports, so the compared gateway can be pointed at them
//   --baseline GIT-REF  also that commit's bridge, as the system "bridge-before": a change's before and after in one run
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { measureCpu, memoryKb } from '../cpu.ts';
import { INSPECTOR_URL, Inspector } from '../inspector.ts';
import { checkoutBridge, ROOT, start, startBridge, stopAll, writeBridgeConfig } from '../processes.ts';
import { expectedCalls, type RoundOptions, runRound, type System, Tally } from './client.ts';
import { UPSTREAM_KEYS } from './model.ts';
import {
  type AgentResults,
  addedOver,
  addedPaired,
  latencyOf,
  markdown,
  percentiles,
  type SystemResult,
} from './report.ts';

const argv = process.argv.slice(2);
const values = (name: string) => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1] as string] : []));
const value = (name: string) => values(name)[0];
const quick = argv.includes('--quick');
const num = (name: string, fallback: number, quickly = fallback) => Number(value(name) ?? (quick ? quickly : fallback));

const options = {
  sessions: num('--sessions', 64, 16),
  prompts: num('--prompts', 15, 4),
  rounds: num('--rounds', 3, 2),
  codex_share: num('--codex-share', 0.5),
  ttft_ms: num('--ttft-ms', 200),
  token_ms: num('--token-ms', 10),
  tokens: num('--tokens', 24),
  side_ms: num('--side-ms', 60),
  tool_ms: num('--tool-ms', 30),
  think_ms: num('--think-ms', 100),
  stagger_ms: num('--stagger-ms', 2_000),
};
const compare = {
  anthropic: value('--compare-anthropic') ?? value('--compare'),
  openai: value('--compare-openai') ?? value('--compare'),
  headers: Object.fromEntries(
    values('--compare-header').map((h) => [
      h.slice(0, h.indexOf(':')).trim().toLowerCase(),
      h.slice(h.indexOf(':') + 1).trim(),
    ]),
  ),
  pids: values('--compare-pid').map(Number),
  runsTools: argv.includes('--compare-runs-tools'),
};
const baseline = value('--baseline');
const chosen = (value('--systems') ?? 'direct,floor,bridge-before,bridge,compare').split(',');
const paired = !argv.includes('--unpaired');

/** How often the load generator's own event loop is sampled, in ms. */
const LAG_RESOLUTION_MS = 10;
const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rss = (pids: number[]) => pids.reduce((sum, pid) => sum + memoryKb(pid).rss, 0);

/** A system we started, with an inspector to read its heap after a full collection. */
interface Started {
  system: System;
  inspectorUrl: string | undefined;
}

async function startSystems(work: string, upstreamUrl: string, mcpUrl: string): Promise<Started[]> {
  const inspect = ['--inspect=127.0.0.1:0'];
  const direct = { origin: upstreamUrl, prefix: '', headers: {} };
  const started: Started[] = [];
  if (chosen.includes('direct')) {
    started.push({
      system: {
        name: 'direct',
        anthropic: { ...direct, headers: { 'x-api-key': UPSTREAM_KEYS.anthropic } },
        openai: { ...direct, headers: { authorization: `Bearer ${UPSTREAM_KEYS.openai}` } },
        runsTools: false,
        pids: () => [],
      },
      inspectorUrl: undefined,
    });
  }
  if (chosen.includes('floor')) {
    const floor = await start(
      [...inspect, 'bench/floor-proxy.ts', upstreamUrl],
      [/\{"url":"([^"]+)"\}/, INSPECTOR_URL],
    );
    const origin = floor.matches[0]?.[1] as string;
    started.push({
      system: {
        name: 'floor',
        anthropic: { origin, prefix: '', headers: { 'x-api-key': UPSTREAM_KEYS.anthropic } },
        openai: { origin, prefix: '', headers: { authorization: `Bearer ${UPSTREAM_KEYS.openai}` } },
        runsTools: false,
        pids: () => [floor.child.pid as number],
      },
      inspectorUrl: floor.matches[1]?.[1],
    });
  }
  const bridges: Array<[string, string | undefined]> = [['bridge', undefined]];
  if (baseline && chosen.includes('bridge-before'))
    bridges.unshift(['bridge-before', checkoutBridge(baseline, join(work, 'before-tree'))]);
  for (const [name, cli] of bridges) {
    if (!chosen.includes(name)) continue;
    const bridge = await startBridge(writeBridgeConfig(join(work, name), upstreamUrl, mcpUrl), {
      nodeArgs: inspect,
      patterns: [INSPECTOR_URL],
      cli,
    });
    const auth = { authorization: `Bearer ${bridge.token}` };
    started.push({
      system: {
        name,
        anthropic: { origin: bridge.url, prefix: '/anthropic', headers: auth },
        openai: { origin: bridge.url, prefix: '/openai', headers: auth },
        runsTools: true,
        pids: () => [bridge.child.pid as number],
      },
      inspectorUrl: bridge.matches[1]?.[1],
    });
  }
  if (chosen.includes('compare') && (compare.anthropic || compare.openai)) {
    const endpoint = (base: string | undefined) => {
      if (!base) return undefined;
      const url = new URL(base);
      return { origin: url.origin, prefix: url.pathname.replace(/\/$/, ''), headers: compare.headers };
    };
    started.push({
      system: {
        name: 'compare',
        anthropic: endpoint(compare.anthropic),
        openai: endpoint(compare.openai),
        runsTools: compare.runsTools,
        pids: () => compare.pids,
      },
      inspectorUrl: undefined,
    });
  }
  return started;
}

/** Live heap after a full collection, idle and halfway through a round, over the sessions. */
async function heapPerSession(s: Started, round: RoundOptions) {
  const inspector = await Inspector.connect(s.inspectorUrl as string);
  try {
    const idle = await inspector.heapUsedAfterGc();
    const tally = new Tally();
    const half = expectedCalls(round) / 2;
    let reading: { heap: number; inFlight: number } | undefined;
    const running = runRound([s.system], round, [tally]);
    while (!reading) {
      await sleep(50);
      if (tally.calls >= half) reading = { inFlight: tally.inFlight, heap: await inspector.heapUsedAfterGc() };
    }
    await running;
    return {
      heap_kb_per_session: (reading.heap - idle) / 1024 / round.sessions,
      heap_read_in_flight: reading.inFlight,
    };
  } finally {
    inspector.close();
  }
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-agents-'));
  const loadBefore = loadavg()[0] as number;
  const upstream = await start(
    [
      'bench/agents/upstream.ts',
      ...['--port', value('--upstream-port') ?? '0', '--mcp-port', value('--mcp-port') ?? '0'],
      ...['--ttft-ms', String(options.ttft_ms), '--token-ms', String(options.token_ms)],
      ...['--tokens', String(options.tokens), '--side-ms', String(options.side_ms)],
    ],
    [/\{"upstream":"([^"]+)","mcp":"([^"]+)"\}/],
  );
  const upstreamUrl = upstream.matches[0]?.[1] as string;
  const mcpUrl = upstream.matches[0]?.[2] as string;
  progress(`upstream ${upstreamUrl}, MCP server ${mcpUrl}`);
  const systems = await startSystems(work, upstreamUrl, mcpUrl);
  await sleep(1_000); // the bridge's store thread and MCP connections settle

  const roundOptions = (round: number, sessions = options.sessions, prompts = options.prompts): RoundOptions => ({
    sessions,
    prompts,
    round,
    codexShare: options.codex_share,
    toolMs: options.tool_ms,
    thinkMs: options.think_ms,
    staggerMs: options.stagger_ms,
    mcpUrl,
  });
  progress('warming up');
  for (const { system } of systems) await runRound([system], roundOptions(-1, 8, 3), [new Tally()]);

  const tallies = new Map(systems.map(({ system }) => [system.name, new Tally()]));
  const perRound = new Map(systems.map(({ system }) => [system.name, [] as Tally[]]));
  const cpu = new Map(systems.map(({ system }) => [system.name, { ms: 0, calls: 0 }]));
  const rssPerSession = new Map(systems.map(({ system }) => [system.name, [] as number[]]));
  const lag = new Map(systems.map(({ system }) => [system.name, 0]));
  const upstreamLags = new Map(systems.map(({ system }) => [system.name, [] as number[]]));
  const direct = systems.find((s) => s.system.name === 'direct')?.system;
  for (let round = 0; round < options.rounds; round++) {
    for (const { system } of systems) {
      // Paired, direct runs beside each other system; alone, it has a round of its own.
      if (paired && direct && system === direct) continue;
      progress(
        `round ${round + 1}/${options.rounds}: ${system.name}${paired && direct ? ' (paired with direct)' : ''}`,
      );
      const tally = new Tally();
      const twin = new Tally();
      const pids = system.pids();
      const before = rss(pids);
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(rss(pids)), 500);
      const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
      delay.enable();
      await fetch(`${upstreamUrl}/bench/stats`); // its lag from now on
      const lanes = paired && direct ? [direct, system] : [system];
      const laneTallies = paired && direct ? [twin, tally] : [tally];
      const { cpuMs } = await measureCpu(pids, () => runRound(lanes, roundOptions(round), laneTallies));
      delay.disable();
      const upstreamLag = (await (await fetch(`${upstreamUrl}/bench/stats`)).json()) as { lag_p99_ms: number };
      const lags = upstreamLags.get(system.name) as number[];
      lags.push(upstreamLag.lag_p99_ms);
      clearInterval(sampler);
      // The histogram holds whole intervals between samples: the lag is what exceeds the interval.
      const lagMs = delay.percentile(99) / 1e6 - LAG_RESOLUTION_MS;
      lag.set(system.name, Math.max(lag.get(system.name) ?? 0, lagMs));
      if (pids.length) {
        const used = cpu.get(system.name) as { ms: number; calls: number };
        used.ms += cpuMs;
        used.calls += tally.calls;
        if (samples.length) rssPerSession.get(system.name)?.push((median(samples) - before) / options.sessions);
      }
      perRound.get(system.name)?.push(tally);
      if (paired && direct) {
        tallies.get('direct')?.merge(twin);
        lag.set('direct', Math.max(lag.get('direct') ?? 0, lagMs));
        upstreamLags.get('direct')?.push(upstreamLag.lag_p99_ms);
      }
      tallies.get(system.name)?.merge(tally);
    }
  }

  const heap = new Map<string, Awaited<ReturnType<typeof heapPerSession>>>();
  if (!argv.includes('--skip-memory')) {
    for (const s of systems.filter((x) => x.inspectorUrl)) {
      progress(`memory: ${s.system.name}`);
      heap.set(s.system.name, await heapPerSession(s, roundOptions(options.rounds)));
    }
  }

  const directLatency = tallies.get('direct') ? latencyOf(tallies.get('direct') as Tally) : undefined;
  const results: AgentResults = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', os: `Linux ${release()}`, node: process.version },
    load_average: { before: loadBefore, after: loadavg()[0] as number },
    options: {
      ...options,
      paired: paired && systems.some((s) => s.system.name === 'direct'),
      systems: systems.map((s) => s.system.name),
      compare_runs_tools: compare.runsTools,
      ...(baseline ? { baseline } : {}),
    },
    systems: {},
  };
  for (const { system } of systems) {
    const latency = latencyOf(tallies.get(system.name) as Tally);
    const used = cpu.get(system.name) as { ms: number; calls: number };
    const rssList = rssPerSession.get(system.name) as number[];
    const entry: SystemResult = {
      ...latency,
      cpu_ms_per_call: used.calls ? used.ms / used.calls : null,
      memory: {
        rss_kb_per_session: rssList.length ? median(rssList) : null,
        ...heap.get(system.name),
      },
      generator_loop_delay_p99_ms: lag.get(system.name) as number,
      upstream_loop_delay_p99_ms: Math.max(...(upstreamLags.get(system.name) as number[])),
    };
    const tally = tallies.get(system.name) as Tally;
    if (tally.paired) {
      entry.added = addedPaired(tally);
      entry.rounds_added = (perRound.get(system.name) as Tally[]).map((t) => {
        const { p50_ms, p99_ms } = percentiles(t.addedTotalMs);
        return { p50_ms, p99_ms };
      });
    } else if (directLatency && system.name !== 'direct') {
      entry.added = addedOver(latency, directLatency);
      const directRounds = perRound.get('direct') as Tally[];
      entry.rounds_added = (perRound.get(system.name) as Tally[]).map((t, i) => {
        const mine = percentiles(t.totalMs);
        const theirs = percentiles((directRounds[i] as Tally).totalMs);
        return { p50_ms: mine.p50_ms - theirs.p50_ms, p99_ms: mine.p99_ms - theirs.p99_ms };
      });
    }
    results.systems[system.name] = entry;
  }
  const table = markdown(results);
  process.stdout.write(`\n${table}`);
  writeFileSync(join(ROOT, 'bench/agents-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench/agents-results.md'), table);
  process.stdout.write('\nwritten to bench/agents-results.json and bench/agents-results.md\n');
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
