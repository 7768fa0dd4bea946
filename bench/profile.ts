// CPU profiles of the bridge under load, one bridge process per case, each summarised as its
// top frames by self time. Profiles go to bench/profiles/ (git ignores *.cpuprofile).
// node bench/profile.ts [CASE…] [--seconds S] [--concurrency C] [--top N] [--workers N]
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES } from './cases.ts';
import { formatFrames, topFrames } from './flame.ts';
import { throughput } from './load.ts';
import { ROOT, startBridge, startUpstream, stop, stopAll, writeBridgeConfig } from './processes.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SECONDS = arg('--seconds', 8);
const CONCURRENCY = arg('--concurrency', 32);
const TOP = arg('--top', 15);
const WORKERS = arg('--workers', 1);
const named = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const chosen = named.length ? CASES.filter((c) => named.includes(c.name)) : CASES;

const dir = join(ROOT, 'bench/profiles');
mkdirSync(dir, { recursive: true });
const { upstreamUrl, mcpUrl } = await startUpstream();
for (const c of chosen) {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-profile-'));
  const caseDir = join(dir, c.name);
  rmSync(caseDir, { recursive: true, force: true });
  const bridge = await startBridge(writeBridgeConfig(work, upstreamUrl, mcpUrl), {
    workers: WORKERS,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', caseDir],
  });
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const { rps } = await throughput(c.target(bridge.url, bridge.token), CONCURRENCY, SECONDS * 1000);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  await stop(bridge.child);
  rmSync(work, { recursive: true, force: true });
  for (const file of readdirSync(caseDir).filter((f) => f.endsWith('.cpuprofile'))) {
    const summary = topFrames(join(caseDir, file), TOP, { fromUs, toUs });
    if (summary.busyMs < 100) continue; // a thread that sat idle under load (a store reader)
    process.stdout.write(
      `${formatFrames(`${c.name} (${rps.toFixed(0)} req/s at c=${CONCURRENCY}) ${file}`, summary)}\n\n`,
    );
  }
}
await stopAll();
process.exit(0);
