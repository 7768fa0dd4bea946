// An MCP server that lists far too many tools (the 1 000 pages of 200): what one request
// then costs the bridge, and whether its memory comes back once a reload removes the server.
// node bench/mcp-flood.ts [PAGES] [PER_PAGE]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floodListing } from '../test/helpers/flood-tools.ts';
import { startTestMcpServer } from '../test/helpers/mcp-server.ts';
import { ReplayUpstream } from '../test/helpers/upstream.ts';
import { memoryKb } from './cpu.ts';
import { INSPECTOR_URL, Inspector } from './inspector.ts';
import { startBridge, stopAll } from './processes.ts';

const PAGES = Number(process.argv[2] ?? 1_000);
const PER_PAGE = Number(process.argv[3] ?? 200);
const REQUESTS = 5;
const MB = 1024 * 1024;

const seen: Array<{ bytes: number; tools: number }> = [];
const upstream = await ReplayUpstream.start();
upstream.keepRequests = false;
upstream.setDefault((request) => {
  seen.push({ bytes: Buffer.byteLength(request.body), tools: request.json?.tools?.length ?? 0 });
  return 'anthropic-messages/text.json';
});
const flood = await startTestMcpServer({ extraTools: 0, listing: floodListing({ pages: PAGES, perPage: PER_PAGE }) });

const work = mkdtempSync(join(tmpdir(), 'aibridge-flood-'));
const file = join(work, 'aibridge.json');
const writeConfig = (servers: object[]) =>
  writeFileSync(
    file,
    JSON.stringify({
      listen: '127.0.0.1:0',
      data_dir: join(work, 'data'),
      retention: 0,
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-bench' }],
      mcp_servers: servers,
    }),
  );
writeConfig([]);
const bridge = await startBridge(file, { nodeArgs: ['--inspect=127.0.0.1:0'], patterns: [INSPECTOR_URL] });
const inspector = await Inspector.connect(bridge.matches[1]?.[1] as string);
const pid = bridge.child.pid as number;

const readyz = async () =>
  ((await (await fetch(`${bridge.url}/readyz`)).json()) as { mcp_servers: Record<string, { state: string }> })
    .mcp_servers;
async function reload(until: (servers: Record<string, { state: string }>) => boolean): Promise<number> {
  const started = performance.now();
  bridge.child.kill('SIGHUP');
  while (!until(await readyz())) await new Promise((r) => setTimeout(r, 100));
  return Math.round(performance.now() - started);
}
async function ask(): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${bridge.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': bridge.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`bridge answered ${res.status}`);
  return performance.now() - started;
}
const memory = async () => {
  const heap = await inspector.heapUsedAfterGc();
  const { rss, peak } = memoryKb(pid);
  return { heap_mb: +(heap / MB).toFixed(1), rss_mb: +(rss / 1024).toFixed(1), peak_rss_mb: +(peak / 1024).toFixed(1) };
};

await ask();
const baseline = await memory();
writeConfig([{ name: 'flood', url: flood.url }]);
const connectMs = await reload((s) => s.flood?.state === 'ready' || s.flood?.state === 'failed');
const state = (await readyz()).flood;
const times: number[] = [];
for (let i = 0; i < REQUESTS; i++) times.push(await ask());
const loaded = await memory();
const last = seen.at(-1) ?? { bytes: 0, tools: 0 };
writeConfig([]);
await reload((s) => !s.flood);
for (let i = 0; i < 2; i++) await ask();
const removed = await memory();

process.stdout.write(
  `${JSON.stringify(
    {
      flood: { pages: PAGES, per_page: PER_PAGE },
      server: state,
      connect_ms: connectMs,
      upstream_body_mb: +(last.bytes / MB).toFixed(2),
      upstream_tools: last.tools,
      request_ms: times.map((t) => Math.round(t)),
      memory: { baseline, loaded, removed },
    },
    null,
    2,
  )}\n`,
);
inspector.close();
await stopAll();
await flood.stop();
await upstream.close();
