// npm run bench [-- --quick] [-- --profile]: the bridge (recording on, embedded database) against
// the floor proxy and the upstream itself; prints a table and writes bench/results.json.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Pool } from 'undici';
import { latencies, percentile, type Target, throughput } from './load.ts';
import { ROOT, start, startUpstream, stopAll, writeBridgeConfig } from './processes.ts';

const quick = process.argv.includes('--quick');
const profile = process.argv.includes('--profile');
const COUNT = quick ? 100 : 400;
const DURATION = quick ? 1_000 : 3_000;
const IDLE_STREAMS = 1_000;

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'aibridge-bench-'));
  const { upstreamUrl, mcpUrl } = await startUpstream();
  const floor = await start(['bench/floor-proxy.ts', upstreamUrl], [/\{"url":"([^"]+)"\}/]);
  const floorUrl = floor.matches[0]?.[1] as string;
  const configFile = writeBridgeConfig(work, upstreamUrl, mcpUrl);
  const bridgeArgs = [
    ...(profile ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench/profiles')] : []),
    'src/cli.ts',
    'server',
    '--config',
    configFile,
  ];
  const bridge = await start(
    bridgeArgs,
    [/ANTHROPIC_BASE_URL=(http:\/\/[^\s]+)\/anthropic\s+export ANTHROPIC_AUTH_TOKEN=(\S+)/],
    { AIBRIDGE_LOG_LEVEL: 'warn' },
  );
  const [bridgeUrl, token] = [bridge.matches[0]?.[1] as string, bridge.matches[0]?.[2] as string];
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const chat = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Say hello' }] });
  const messages = JSON.stringify({
    model: 'claude-bench',
    max_tokens: 256,
    stream: true,
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  const responses = JSON.stringify({ model: 'gpt-4.1', input: 'Say hello', stream: true });
  const scenarios = [
    {
      name: 'chat blocking',
      upstreamPath: '/v1/chat/completions',
      bridgePath: '/openai/v1/chat/completions',
      body: chat,
    },
    { name: 'messages streaming', upstreamPath: '/v1/messages', bridgePath: '/anthropic/v1/messages', body: messages },
    { name: 'responses streaming', upstreamPath: '/v1/responses', bridgePath: '/openai/v1/responses', body: responses },
  ];

  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    quick,
    node: process.version,
    samples: COUNT,
  };
  const rows: string[] = [];
  const ms = (n: number) => n.toFixed(3);
  const progress = (line: string) => process.stderr.write(`… ${line}\n`);
  for (const s of scenarios) {
    progress(s.name);
    const direct: Target = {
      name: 'upstream',
      origin: upstreamUrl,
      path: s.upstreamPath,
      headers: { 'content-type': 'application/json' },
      body: s.body,
    };
    const viaFloor: Target = { ...direct, name: 'floor', origin: floorUrl };
    const viaBridge: Target = { name: 'bridge', origin: bridgeUrl, path: s.bridgePath, headers: auth, body: s.body };
    const d = await latencies(direct, COUNT);
    const f = await latencies(viaFloor, COUNT);
    const b = await latencies(viaBridge, COUNT);
    const tput: Record<string, { bridge: number; floor: number }> = {};
    for (const c of [1, 32, 256])
      tput[c] = { bridge: await throughput(viaBridge, c, DURATION), floor: await throughput(viaFloor, c, DURATION) };
    const added = {
      bridge_p50_ms: percentile(b, 50) - percentile(d, 50),
      bridge_p99_ms: percentile(b, 99) - percentile(d, 99),
      floor_p50_ms: percentile(f, 50) - percentile(d, 50),
      floor_p99_ms: percentile(f, 99) - percentile(d, 99),
    };
    results[s.name] = {
      upstream_p50_ms: percentile(d, 50),
      upstream_p99_ms: percentile(d, 99),
      added,
      throughput_rps: tput,
    };
    rows.push(
      `${s.name.padEnd(22)} added p50 ${ms(added.bridge_p50_ms)} ms (floor ${ms(added.floor_p50_ms)})  p99 ${ms(added.bridge_p99_ms)} ms (floor ${ms(added.floor_p99_ms)})  ` +
        `rps c1 ${tput[1]!.bridge.toFixed(0)}/${tput[1]!.floor.toFixed(0)}  c32 ${tput[32]!.bridge.toFixed(0)}/${tput[32]!.floor.toFixed(0)}  ` +
        `c256 ${tput[256]!.bridge.toFixed(0)}/${tput[256]!.floor.toFixed(0)} (${((tput[256]!.bridge / tput[256]!.floor) * 100).toFixed(0)}% of floor)`,
    );
  }

  // One tool-loop iteration: upstream → MCP echo → upstream. The bridge's own share is what is left
  // after subtracting two direct upstream calls and one direct MCP call.
  progress('tool loop');
  const loopBody = JSON.stringify({
    model: 'claude-bench',
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Echo' }],
  });
  const loop = await latencies(
    { name: 'bridge', origin: bridgeUrl, path: '/anthropic/v1/messages', headers: auth, body: loopBody },
    COUNT,
  );
  const upstreamOnce = await latencies(
    {
      name: 'upstream',
      origin: upstreamUrl,
      path: '/v1/messages',
      headers: { 'content-type': 'application/json' },
      body: loopBody,
    },
    COUNT,
  );
  const mcp = new Client({ name: 'bench', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)));
  const mcpTimes: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const t = process.hrtime.bigint();
    await mcp.callTool({ name: 'echo', arguments: { text: 'hello from the model' } });
    mcpTimes.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await mcp.close();
  mcpTimes.sort((a, b) => a - b);
  const overhead = percentile(loop, 50) - 2 * percentile(upstreamOnce, 50) - percentile(mcpTimes, 50);
  results['tool loop'] = {
    bridge_p50_ms: percentile(loop, 50),
    bridge_p99_ms: percentile(loop, 99),
    upstream_p50_ms: percentile(upstreamOnce, 50),
    mcp_p50_ms: percentile(mcpTimes, 50),
    bridge_overhead_p50_ms: overhead,
  };
  rows.push(
    `${'tool loop (1 iter)'.padEnd(22)} total p50 ${ms(percentile(loop, 50))} ms p99 ${ms(percentile(loop, 99))} ms; bridge's own share p50 ${ms(overhead)} ms`,
  );

  // Memory per open idle stream.
  progress('idle streams');
  const idle = async (origin: string, path: string, headers: Record<string, string>, pid: number) => {
    const pool = new Pool(origin, { connections: IDLE_STREAMS });
    const before = rssKb(pid);
    const open = await Promise.all(
      Array.from({ length: IDLE_STREAMS }, () =>
        pool.request({ path, method: 'POST', headers: { ...headers, 'x-bench-hang': '1' }, body: messages }),
      ),
    );
    await new Promise((r) => setTimeout(r, 500));
    const after = rssKb(pid);
    for (const res of open) res.body.destroy();
    await pool.destroy();
    return (after - before) / IDLE_STREAMS;
  };
  const bridgePerStream = await idle(bridgeUrl, '/anthropic/v1/messages', auth, bridge.child.pid as number);
  const floorPerStream = await idle(
    floorUrl,
    '/v1/messages',
    { 'content-type': 'application/json' },
    floor.child.pid as number,
  );
  results['idle streams'] = {
    count: IDLE_STREAMS,
    bridge_kb_per_stream: bridgePerStream,
    floor_kb_per_stream: floorPerStream,
  };
  rows.push(
    `${'1000 idle streams'.padEnd(22)} bridge ${bridgePerStream.toFixed(1)} KB/stream, floor ${floorPerStream.toFixed(1)} KB/stream`,
  );

  process.stdout.write(
    `\nAI Bridge benchmark (${quick ? 'quick' : 'full'}; ${COUNT} sequential samples; throughput bridge/floor req/s)\n`,
  );
  for (const row of rows) process.stdout.write(`${row}\n`);
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write('\nwritten to bench/results.json\n');
  await stopAll(); // the bridge stops its embedded database before the directory goes
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
