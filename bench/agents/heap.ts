// node bench/agents/heap.ts [-- OPTIONS]: what the bridge's live heap holds per open coding-agent
// session. Starts the agents upstream and a bridge (recording on, embedded store), warms it up, runs
// a full round, takes a heap snapshot idle, then another halfway through a round (as run.ts reads
// memory), and diffs them: objects that are new in the second, by kind (self size), and the new
// objects' dominator subtrees grouped by what holds them (retained size, as DevTools shows it),
// with a shortest retaining path and what the biggest of each group holds. Sizes are KB per session.
//   --sessions N, --prompts N   the round (default 64, 15; as bench:agents)
//   --rounds N        full rounds before the idle snapshot (default 1: caches settle)
//   --top N           rows per table (default 15)
//   --out DIR         keep idle.heapsnapshot and half.heapsnapshot there (open them in DevTools' Memory tab)
//   --config-extra L  a line added to the bridge's configuration (repeatable)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { INSPECTOR_URL, Inspector } from '../inspector.ts';
import { start, startBridge, stopAll, writeBridgeConfig } from '../processes.ts';
import { expectedCalls, type RoundOptions, runRound, type System, Tally } from './client.ts';
import { HeapSnapshot } from './heap-snapshot.ts';

const argv = process.argv.slice(2);
const values = (name: string) => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1] as string] : []));
const num = (name: string, fallback: number) => Number(values(name)[0] ?? fallback);
const sessions = num('--sessions', 64);
const prompts = num('--prompts', 15);
const top = num('--top', 15);
const out = values('--out')[0];
const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const kb = (bytes: number) => (bytes / 1024 / sessions).toFixed(1);

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-heap-'));
  const upstream = await start(['bench/agents/upstream.ts'], [/\{"upstream":"([^"]+)","mcp":"([^"]+)"\}/]);
  const [upstreamUrl, mcpUrl] = [upstream.matches[0]?.[1] as string, upstream.matches[0]?.[2] as string];
  const bridge = await startBridge(writeBridgeConfig(work, upstreamUrl, mcpUrl, values('--config-extra')), {
    nodeArgs: ['--inspect=127.0.0.1:0'],
    patterns: [INSPECTOR_URL],
  });
  const auth = { authorization: `Bearer ${bridge.token}` };
  const system: System = {
    name: 'bridge',
    anthropic: { origin: bridge.url, prefix: '/anthropic', headers: auth },
    openai: { origin: bridge.url, prefix: '/openai', headers: auth },
    runsTools: true,
    pids: () => [bridge.child.pid as number],
  };
  const round = (n: number, count = sessions, steps = prompts): RoundOptions => ({
    sessions: count,
    prompts: steps,
    round: n,
    codexShare: 0.5,
    toolMs: 30,
    thinkMs: 100,
    staggerMs: 2_000,
    mcpUrl,
  });
  await sleep(1_000);
  progress('warming up');
  await runRound([system], round(-1, 8, 3), [new Tally()]);
  for (let r = 0; r < num('--rounds', 1); r++) {
    progress(`round ${r + 1}`);
    await runRound([system], round(r), [new Tally()]);
  }
  const inspector = await Inspector.connect(bridge.matches[1]?.[1] as string);
  progress('idle snapshot');
  const idleUsed = await inspector.heapUsedAfterGc();
  const idleJson = await inspector.heapSnapshot();
  const tally = new Tally();
  const running = runRound([system], round(99), [tally]);
  while (tally.calls < expectedCalls(round(99)) / 2) await sleep(50);
  progress(`snapshot halfway (${tally.inFlight} calls in flight)`);
  const inFlight = tally.inFlight;
  const halfUsed = await inspector.heapUsedAfterGc();
  const halfJson = await inspector.heapSnapshot();
  await running;
  inspector.close();
  await stopAll();
  rmSync(work, { recursive: true, force: true });
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'idle.heapsnapshot'), idleJson);
    writeFileSync(join(out, 'half.heapsnapshot'), halfJson);
  }
  report(idleJson, halfJson, { idleUsed, halfUsed, inFlight, errors: tally.errors });
}

interface Readings {
  idleUsed: number;
  halfUsed: number;
  inFlight: number;
  errors: number;
}

function report(idleJson: string, halfJson: string, readings: Readings): void {
  progress('reading the snapshots');
  const idle = new HeapSnapshot(idleJson);
  const oldIds = new Set<number>();
  let idleTotal = 0;
  for (let n = 0; n < idle.count; n++) {
    oldIds.add(idle.id[n] as number);
    if (idle.idom[n] !== -1) idleTotal += idle.selfSize[n] as number;
  }
  const half = new HeapSnapshot(halfJson);
  const isNew = (n: number) => !oldIds.has(half.id[n] as number);
  let halfTotal = 0;
  for (let n = 0; n < half.count; n++) if (half.idom[n] !== -1) halfTotal += half.selfSize[n] as number;
  const lines = [
    `${sessions} sessions, ${readings.inFlight} calls in flight at the snapshot, ${readings.errors} errors`,
    `heap used after GC: idle ${(readings.idleUsed / 1024).toFixed(0)} KB, halfway ${(readings.halfUsed / 1024).toFixed(0)} KB: ${kb(readings.halfUsed - readings.idleUsed)} KB per session`,
    `snapshot, reachable: idle ${(idleTotal / 1024).toFixed(0)} KB, halfway ${(halfTotal / 1024).toFixed(0)} KB: ${kb(halfTotal - idleTotal)} KB per session`,
  ];

  // New objects by kind, self size.
  const byKind = new Map<string, { count: number; bytes: number }>();
  let newTotal = 0;
  for (let n = 0; n < half.count; n++) {
    if (half.idom[n] === -1 || !isNew(n)) continue;
    const entry = byKind.get(half.label(n)) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += half.selfSize[n] as number;
    newTotal += half.selfSize[n] as number;
    byKind.set(half.label(n), entry);
  }
  lines.push(
    '',
    `new objects: ${kb(newTotal)} KB per session; by kind (self size):`,
    '| KB/session | count/session | kind |',
    '|---:|---:|---|',
  );
  for (const [kind, { count, bytes }] of [...byKind].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top))
    lines.push(`| ${kb(bytes)} | ${(count / sessions).toFixed(1)} | ${kind} |`);

  // New dominator subtrees (a new object whose immediate dominator existed idle), grouped by holder and kind.
  const groups = new Map<string, { bytes: number; count: number; biggest: number }>();
  for (let n = 0; n < half.count; n++) {
    const holder = half.idom[n] as number;
    if (holder === -1 || !isNew(n) || isNew(holder)) continue;
    const key = `${half.label(holder)} ⇒ ${half.label(n)}`;
    const entry = groups.get(key) ?? { bytes: 0, count: 0, biggest: n };
    entry.bytes += half.retained[n] as number;
    entry.count++;
    if ((half.retained[n] as number) > (half.retained[entry.biggest] as number)) entry.biggest = n;
    groups.set(key, entry);
  }
  const sorted = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
  lines.push('', 'new objects by what holds them (retained size; holder existed idle ⇒ new object):');
  lines.push('| KB/session | count/session | holder ⇒ new | shortest path to the biggest |', '|---:|---:|---|---|');
  for (const [key, { bytes, count, biggest }] of sorted)
    lines.push(`| ${kb(bytes)} | ${(count / sessions).toFixed(1)} | ${key} | ${half.path(biggest, 6)} |`);

  // What the biggest of the top groups holds: its dominator subtree, two levels down.
  const children = new Map<number, number[]>();
  for (let n = 0; n < half.count; n++) {
    const d = half.idom[n] as number;
    if (d === -1 || d === n) continue;
    const list = children.get(d) ?? [];
    list.push(n);
    children.set(d, list);
  }
  const tree = (n: number, depth: number, indent: string) => {
    const kids = (children.get(n) ?? []).sort((a, b) => (half.retained[b] as number) - (half.retained[a] as number));
    for (const k of kids.slice(0, 5)) {
      if ((half.retained[k] as number) < (half.retained[n] as number) * 0.05) break;
      lines.push(`${indent}${((half.retained[k] as number) / 1024).toFixed(1)} KB ${half.label(k)} ${via(n, k)}`);
      if (depth > 1) tree(k, depth - 1, `${indent}  `);
    }
  };
  const via = (from: number, to: number) => {
    for (let e = half.firstEdge[from] as number; e < (half.firstEdge[from + 1] as number); e++)
      if (half.edgeTo[e] === to) return `(.${half.edgeName[e]})`;
    return '';
  };
  lines.push('', 'the biggest of the first groups, what it holds (KB of that one object):');
  for (const [key, { biggest }] of sorted.slice(0, 6)) {
    lines.push(`${key}: ${((half.retained[biggest] as number) / 1024).toFixed(1)} KB`);
    tree(biggest, 3, '  ');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
process.exit(0);
