// npm run bench:proxy [-- OPTIONS]: what the intercepting proxy adds to a request's latency over
// the direct route to the same bridge. One bridge (a child process, recording on, embedded store)
// with proxy: configured, an upstream answering at once from the recorded fixtures (in this
// process); each sample sends the same request both ways, in turn, so a neighbour's load on a
// shared machine hits both alike. Prints p50/p99 per route and case, and the difference.
//   --samples N   samples per route and case (default 1000)
//   --warmup N    unmeasured requests per route and case first (default 100)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, type Dispatcher, ProxyAgent, request } from 'undici';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = argv.indexOf(name);
  return at >= 0 && argv[at + 1] ? Number(argv[at + 1]) : fallback;
};
const SAMPLES = option('--samples', 1_000);
const WARMUP = option('--warmup', 100);

const fixture = (name: string) => readFileSync(join(ROOT, 'fixtures', 'anthropic-messages', name), 'utf8');
const BLOCKING = JSON.stringify((JSON.parse(fixture('text.json')) as { body: unknown }).body);
const STREAM = fixture('text.sse');

/** The provider, answering every Messages call at once: blocking or streamed, as asked. */
async function startUpstream(): Promise<{ url: string; close(): void }> {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if ((JSON.parse(body) as { stream?: boolean }).stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(STREAM);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(BLOCKING);
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

interface Bridge {
  url: string;
  proxyUrl: string;
  token: string;
  caPem: string;
  child: ChildProcess;
}

/** `aibridge server` with the proxy on, started fresh: its owner token, its address, its proxy's, its CA. */
async function startBridge(upstreamUrl: string, dir: string): Promise<Bridge> {
  const config = join(dir, 'aibridge.json');
  const dataDir = join(dir, 'data');
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      data_dir: dataDir,
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstreamUrl, api_key: 'sk-ant-bench' }],
      proxy: { listen: '127.0.0.1:0', hosts: { 'api.anthropic.com': 'anthropic' }, tunnel: 'deny' },
    }),
  );
  const child = spawn(process.execPath, ['src/cli.ts', 'server', '--config', config], {
    cwd: ROOT,
    env: { ...process.env, AIBRIDGE_CONFIG: undefined, AIBRIDGE_LISTEN: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const patterns = {
    url: /"url":"(http:\/\/[^"]+)","msg":"aibridge listening"/,
    proxyUrl: /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"intercepting proxy listening"/,
    token: /^\s+(aib_\S+)$/m,
  };
  const found = await new Promise<Record<keyof typeof patterns, string>>((done, fail) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk;
      const matches = Object.entries(patterns).map(([key, pattern]) => [key, pattern.exec(seen)?.[1]]);
      if (matches.every(([, value]) => value)) done(Object.fromEntries(matches));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => fail(new Error(`the bridge exited ${code}:\n${seen}`)));
  });
  return { ...found, caPem: readFileSync(join(dataDir, 'proxy', 'ca.crt'), 'utf8'), child };
}

interface Route {
  label: string;
  dispatcher: Dispatcher;
  url: string;
  headers: Record<string, string>;
}

const ASK = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] };

/** One request, read to its end; ms from sending to the last byte. `fresh` closes the connection after it. */
async function once(route: Route, stream: boolean, fresh: boolean): Promise<number> {
  const began = performance.now();
  const res = await request(route.url, {
    method: 'POST',
    dispatcher: route.dispatcher,
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...route.headers },
    body: JSON.stringify({ ...ASK, stream }),
    reset: fresh,
  });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${route.label}: HTTP ${res.statusCode}`);
  return performance.now() - began;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

interface Row {
  case: string;
  route: string;
  p50: number;
  p99: number;
}

async function measure(routes: Route[], label: string, stream: boolean, fresh: boolean): Promise<Row[]> {
  for (let i = 0; i < WARMUP; i++) for (const route of routes) await once(route, stream, fresh);
  const times = routes.map(() => [] as number[]);
  for (let i = 0; i < SAMPLES; i++) {
    // Alternating which goes first, so neither always follows the other's garbage.
    const order = i % 2 ? [...routes.keys()].reverse() : [...routes.keys()];
    for (const r of order) times[r]!.push(await once(routes[r]!, stream, fresh));
  }
  return routes.map((route, r) => {
    const sorted = times[r]!.sort((a, b) => a - b);
    return { case: label, route: route.label, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  });
}

const ms = (n: number) => n.toFixed(2).padStart(8);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'aibridge-bench-proxy-'));
  const upstream = await startUpstream();
  const bridge = await startBridge(upstream.url, dir);
  const direct: Route = {
    label: 'direct',
    dispatcher: new Agent(),
    url: `${bridge.url}/anthropic/v1/messages`,
    headers: { 'x-api-key': bridge.token },
  };
  const proxied: Route = {
    label: 'proxy',
    dispatcher: new ProxyAgent({
      uri: bridge.proxyUrl,
      token: `Basic ${Buffer.from(`bench:${bridge.token}`).toString('base64')}`,
      requestTls: { ca: bridge.caPem },
    }),
    url: 'https://api.anthropic.com/v1/messages',
    headers: { 'x-api-key': 'sk-ant-placeholder' },
  };
  try {
    const rows: Row[] = [];
    const cases = [
      { label: 'blocking, kept-alive connection', stream: false, fresh: false },
      { label: 'streaming, kept-alive connection', stream: true, fresh: false },
      { label: 'blocking, new connection each', stream: false, fresh: true },
    ];
    for (const c of cases) {
      process.stderr.write(`… ${c.label}: ${SAMPLES} samples per route\n`);
      rows.push(...(await measure([direct, proxied], c.label, c.stream, c.fresh)));
    }
    console.log(`\nIntercepting proxy vs direct route, ${SAMPLES} samples each (ms, request sent → last byte read)\n`);
    console.log(`${'case'.padEnd(36)}${'route'.padEnd(8)}${'p50'.padStart(8)}${'p99'.padStart(8)}`);
    for (const row of rows) console.log(`${row.case.padEnd(36)}${row.route.padEnd(8)}${ms(row.p50)}${ms(row.p99)}`);
    console.log(`\n${'added by the proxy'.padEnd(44)}${'p50'.padStart(8)}${'p99'.padStart(8)}`);
    for (const c of cases) {
      const [d, p] = rows.filter((r) => r.case === c.label) as [Row, Row];
      console.log(`${c.label.padEnd(44)}${ms(p.p50 - d.p50)}${ms(p.p99 - d.p99)}`);
    }
  } finally {
    await Promise.all([direct.dispatcher.close(), proxied.dispatcher.close()]);
    const exited = new Promise((done) => bridge.child.once('exit', done));
    bridge.child.kill('SIGTERM');
    await exited;
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
