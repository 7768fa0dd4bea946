// Where a request's allocations come from: the bridge under load with V8's sampling heap profiler
// counting every allocation, garbage included (what the young generation has to sweep), summed
// by function and shown per request with its callers.
// node bench/tail/allocations.ts [small|streaming|80k] [--seconds S] [--concurrency C] [--top N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caseNamed } from '../cases.ts';
import { where } from '../flame.ts';
import { type AllocationNode, INSPECTOR_URL, Inspector } from '../inspector.ts';
import { throughput } from '../load.ts';
import { startBridge, startUpstream, stopAll, writeBridgeConfig } from '../processes.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const CASES: Record<string, string> = {
  small: 'chat-blocking',
  streaming: 'messages-streaming',
  '80k': 'claude-code-80k',
};
const chosen = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'small';
const SECONDS = arg('--seconds', 5);
const CONCURRENCY = arg('--concurrency', 32);
const TOP = arg('--top', 25);
/** Bytes between samples: small enough for per-request figures, large enough not to slow the run much. */
const SAMPLING_BYTES = 16 * 1024;

const nameOf = (node: AllocationNode) =>
  `${node.callFrame.functionName || '(anonymous)'} ${where(node.callFrame.url, node.callFrame.lineNumber)}`.trim();

/** Self bytes by frame, with the callers that account for most of each. */
function bySelf(head: AllocationNode) {
  const frames = new Map<string, { bytes: number; callers: Map<string, number> }>();
  let total = 0;
  const walk = (node: AllocationNode, parent: string) => {
    const name = nameOf(node);
    if (node.selfSize) {
      const entry = frames.get(name) ?? { bytes: 0, callers: new Map() };
      entry.bytes += node.selfSize;
      entry.callers.set(parent, (entry.callers.get(parent) ?? 0) + node.selfSize);
      frames.set(name, entry);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child, name === parent ? parent : name);
  };
  walk(head, '(root)');
  return { frames, total };
}

const work = mkdtempSync(join(tmpdir(), 'aibridge-alloc-'));
const { upstreamUrl, mcpUrl } = await startUpstream();
const bridge = await startBridge(writeBridgeConfig(work, upstreamUrl, mcpUrl), {
  nodeArgs: ['--inspect=127.0.0.1:0'],
  patterns: [INSPECTOR_URL],
});
const target = caseNamed(CASES[chosen] as string).target(bridge.url, bridge.token);
await throughput(target, CONCURRENCY, 2_000); // compiled and warm: allocation of a steady state
const inspector = await Inspector.connect(bridge.matches[1]?.[1] as string);
await inspector.startAllocationSampling(SAMPLING_BYTES);
const { requests, rps } = await throughput(target, CONCURRENCY, SECONDS * 1000);
const profile = await inspector.stopAllocationSampling();
inspector.close();
const { frames, total } = bySelf(profile.head);
const kb = (bytes: number) => (bytes / 1024 / requests).toFixed(2);
const lines = [
  `${chosen} (${CASES[chosen]}), c=${CONCURRENCY}, ${requests} requests (${rps.toFixed(0)}/s): ${kb(total)} KB allocated per request`,
];
for (const [name, { bytes, callers }] of [...frames].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, TOP)) {
  const top = [...callers]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([caller, b]) => `${caller} ${((b / bytes) * 100).toFixed(0)}%`)
    .join(', ');
  lines.push(`  ${kb(bytes).padStart(7)} KB  ${((bytes / total) * 100).toFixed(1).padStart(5)}%  ${name}  ← ${top}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
await stopAll();
rmSync(work, { recursive: true, force: true });
process.exit(0);
