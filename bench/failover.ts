// npm run bench:failover [-- --samples N --rounds N]: the extra time a client waits when the first
// key of a provider's pool answers 429 and the bridge moves on to the next (README "Key pools").
// One bridge (a child process, recording on, embedded store) has each provider twice: with one
// good key, and with a pool whose first key is always rate-limited (retry-after: 0, so every
// request meets it). Requests alternate between the two, one of each per pair, so drift and a
// neighbour's load hit both alike; the median of the pairs' differences is what a failover costs.
// Writes bench/failover-results.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { ReplayUpstream, type UpstreamRequest } from '../test/helpers/upstream.ts';
import { caseNamed } from './cases.ts';
import { percentile, type Target } from './load.ts';
import { ROOT, startBridge, stopAll } from './processes.ts';

const argv = process.argv.slice(2);
const value = (name: string) => argv[argv.indexOf(name) + 1];
const SAMPLES = Number(argv.includes('--samples') ? value('--samples') : 300);
const ROUNDS = Number(argv.includes('--rounds') ? value('--rounds') : 3);
const GOOD = 'sk-bench-good';
const LIMITED = 'sk-bench-rate-limited';

function choose(request: UpstreamRequest): string {
  const ext = request.json?.stream ? 'sse' : 'json';
  return request.path.endsWith('/chat/completions') ? `openai-chat/text.${ext}` : `anthropic-messages/text.${ext}`;
}

const upstream = await ReplayUpstream.start();
upstream.keepRequests = false;
upstream.setDefault(choose);
upstream.keyAnswers.set(LIMITED, { status: 429, retryAfter: '0' });
// Counts what reached the upstream, by key: every pooled request must have met the rate-limited key first.
const calls = { limited: 0, good: 0 };
upstream.gate = (request) => {
  if (request.key === LIMITED) calls.limited++;
  else calls.good++;
  return undefined;
};

const work = mkdtempSync(join(tmpdir(), 'aibridge-bench-failover-'));
const config = join(work, 'aibridge.yaml');
const pool = `[${LIMITED}, ${GOOD}]`;
writeFileSync(
  config,
  [
    'listen: 127.0.0.1:0',
    `data_dir: ${join(work, 'data')}`,
    'retention: 0',
    'providers:',
    `  - { name: openai, type: openai, base_url: "${upstream.url}/v1", api_key: ${GOOD} }`,
    `  - { name: openai-pool, type: openai, base_url: "${upstream.url}/v1", api_keys: ${pool} }`,
    `  - { name: anthropic, type: anthropic, base_url: "${upstream.url}", api_key: ${GOOD} }`,
    `  - { name: anthropic-pool, type: anthropic, base_url: "${upstream.url}", api_keys: ${pool} }`,
  ].join('\n'),
);

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const round2 = (x: number) => Math.round(x * 100) / 100;

/** The same case on the provider with one good key and on its pool; the pool's path differs only in its prefix. */
function targets(name: string, bridge: { url: string; token: string }): { direct: Target; pooled: Target } {
  const direct = caseNamed(name).target(bridge.url, bridge.token);
  const prefix = direct.path.split('/')[1] as string;
  return { direct, pooled: { ...direct, path: direct.path.replace(`/${prefix}/`, `/${prefix}-pool/`) } };
}

/** A 429 straight from the upstream: what the failed attempt itself costs, without the bridge. */
async function timed429(count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    const res = await fetch(`${upstream.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${LIMITED}`, 'content-type': 'application/json' },
      body: caseNamed('chat-blocking').body,
    });
    await res.text();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times;
}

/** One request to completion (the whole stream), in milliseconds. */
async function once(pool: Pool, target: Target): Promise<number> {
  const start = process.hrtime.bigint();
  const res = await pool.request({ path: target.path, method: 'POST', headers: target.headers, body: target.body });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${target.path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** `count` pairs after a warm-up: one request with one good key, then one through the pool, each on its own connection. */
async function pairs(direct: Target, pooled: Target, count: number, warmup: number) {
  const pools = [new Pool(direct.origin, { connections: 1 }), new Pool(pooled.origin, { connections: 1 })] as const;
  const out = { direct: [] as number[], pooled: [] as number[], extra: [] as number[] };
  try {
    for (let i = 0; i < warmup + count; i++) {
      const d = await once(pools[0], direct);
      const p = await once(pools[1], pooled);
      if (i < warmup) continue;
      out.direct.push(d);
      out.pooled.push(p);
      out.extra.push(p - d);
    }
    return out;
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

try {
  const bridge = await startBridge(config);
  const results: Record<string, unknown> = {};
  for (const name of ['chat-blocking', 'messages-streaming']) {
    const { direct, pooled } = targets(name, bridge);
    const times = { direct: [] as number[], pooled: [] as number[], extra: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`… ${name}, round ${round + 1} of ${ROUNDS}\n`);
      const got = await pairs(direct, pooled, SAMPLES, round ? 10 : 50);
      times.direct.push(...got.direct);
      times.pooled.push(...got.pooled);
      times.extra.push(...got.extra);
    }
    const d = sorted(times.direct);
    const p = sorted(times.pooled);
    const e = sorted(times.extra);
    results[name] = {
      one_key_p50_ms: round2(percentile(d, 50)),
      one_key_p99_ms: round2(percentile(d, 99)),
      first_key_429_p50_ms: round2(percentile(p, 50)),
      first_key_429_p99_ms: round2(percentile(p, 99)),
      extra_wait_p50_ms: round2(percentile(e, 50)),
      extra_wait_p90_ms: round2(percentile(e, 90)),
    };
  }
  results.upstream_calls = { ...calls };
  const answered429 = sorted(await timed429(SAMPLES));
  results.upstream_429_p50_ms = round2(percentile(answered429, 50));
  const report = {
    taken: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    samples: SAMPLES * ROUNDS,
    results,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench/failover-results.json'), `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await stopAll();
  await upstream.close();
  rmSync(work, { recursive: true, force: true });
}
