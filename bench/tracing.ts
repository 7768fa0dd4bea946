// node bench/tracing.ts [--count N] [--rounds R]: the latency cost of tracing. Two bridges on one embedded
// database, one with tracing off and one exporting every span over OTLP/HTTP (protobuf) to a
// local sink, are timed alternately on the same requests. Prints a table and writes
// bench/tracing-results.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { latencies, percentile, type Target } from './load.ts';
import { ROOT, start, startUpstream, stopAll, writeBridgeConfig } from './processes.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const COUNT = arg('--count', 500);
const ROUNDS = arg('--rounds', 4); // off/on alternate, so drift (JIT, GC, database) hits both alike

/** Stands in for a collector: accepts every export, counts them. */
async function sink(): Promise<{ url: string; exports: () => number; bytes: () => number }> {
  let exports = 0;
  let bytes = 0;
  const server = createServer(async (req, res) => {
    for await (const chunk of req) bytes += (chunk as Buffer).length;
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    bytes: () => bytes,
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-bench-tracing-'));
  const collector = await sink();
  const { upstreamUrl, mcpUrl } = await startUpstream();
  const configFile = writeBridgeConfig(work, upstreamUrl, mcpUrl);
  const listening = /"url":"(http:\/\/[^"]+)"[^\n]*aibridge listening/;
  const serve = ['src/cli.ts', 'server', '--config', configFile];
  // The first start creates the owner and prints its token; the second shares the database.
  const off = await start(serve, [listening, /ANTHROPIC_AUTH_TOKEN=(\S+)/], { AIBRIDGE_LOG_LEVEL: 'info' });
  const [offListening, offToken] = off.matches as [RegExpExecArray, RegExpExecArray];
  const [offUrl, token] = [offListening[1] as string, offToken[1] as string];
  const on = await start(serve, [listening], {
    AIBRIDGE_LOG_LEVEL: 'info',
    AIBRIDGE_TRACE_ENABLE: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  });
  const [onListening] = on.matches as [RegExpExecArray];
  const onUrl = onListening[1] as string;

  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const scenarios = [
    {
      name: 'chat blocking',
      path: '/openai/v1/chat/completions',
      body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Say hello' }] }),
    },
    {
      name: 'tool loop blocking',
      path: '/anthropic/v1/messages',
      body: JSON.stringify({ model: 'claude-bench', max_tokens: 256, messages: [{ role: 'user', content: 'Echo' }] }),
    },
  ];
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, samples: COUNT };
  const rows: string[] = [];
  const ms = (n: number) => n.toFixed(3).padStart(7);
  for (const s of scenarios) {
    process.stderr.write(`… ${s.name}\n`);
    const times = { off: [] as number[], on: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [mode, origin] of [
        ['off', offUrl],
        ['on', onUrl],
      ] as const) {
        const target: Target = { name: mode, origin, path: s.path, headers, body: s.body };
        times[mode].push(...(await latencies(target, Math.ceil(COUNT / ROUNDS))));
      }
    }
    const stats = (t: number[]) => {
      const sorted = [...t].sort((a, b) => a - b);
      const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
      return { mean_ms: mean, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) };
    };
    const [a, b] = [stats(times.off), stats(times.on)];
    results[s.name] = { off: a, on: b, added_mean_ms: b.mean_ms - a.mean_ms, added_p50_ms: b.p50_ms - a.p50_ms };
    rows.push(
      `${s.name.padEnd(20)} off mean ${ms(a.mean_ms)} p50 ${ms(a.p50_ms)} p99 ${ms(a.p99_ms)} | ` +
        `on mean ${ms(b.mean_ms)} p50 ${ms(b.p50_ms)} p99 ${ms(b.p99_ms)} | added mean ${ms(b.mean_ms - a.mean_ms)} ms`,
    );
  }
  await new Promise((r) => setTimeout(r, 6_000)); // one batch delay, so the last spans reach the sink
  results.exported = { requests: collector.exports(), bytes: collector.bytes() };
  process.stdout.write(`\nTracing cost (${COUNT} sequential blocking requests per mode and scenario, ms)\n`);
  process.stdout.write(`${rows.join('\n')}\n`);
  process.stdout.write(`OTLP sink received ${collector.exports()} exports, ${collector.bytes()} bytes\n`);
  writeFileSync(resolve(ROOT, 'bench/tracing-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  return work;
}

let work: string | undefined;
try {
  work = await main();
} finally {
  await stopAll(); // the bridges stop their embedded database before the directory goes
  if (work) rmSync(work, { recursive: true, force: true });
}
