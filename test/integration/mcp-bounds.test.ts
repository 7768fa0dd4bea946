import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSPECTOR_URL, Inspector } from '../../bench/inspector.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { floodListing, floodToolName } from '../helpers/flood-tools.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/**
 * Servers that list far too many tools (the issue: 1 000 pages of 200 injected 200 000 tools,
 * 75 MB a request, 1.6 GB resident, kept after the server was removed), against a bridge in a
 * process of its own, so its memory is its own: read through its inspector after a full GC.
 */

const tempDir = tempDirs('aibridge-mcp-bounds-');
const MB = 1024 * 1024;

interface Seen {
  bytes: number;
  names: string[];
}

let upstream: ReplayUpstream;
let wide: TestMcpServer;
let deep: TestMcpServer;
let server: ChildServer;
let inspector: Inspector;
const seen: Seen[] = [];

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.keepRequests = false; // the test process keeps only what it asserts on
  upstream.setDefault((request) => {
    const tools: Array<{ name: string }> = request.json?.tools ?? [];
    seen.push({ bytes: Buffer.byteLength(request.body), names: tools.map((t) => t.name) });
    return 'anthropic-messages/text.json';
  });
  // 20 000 tools in one page (about 5 MB, under max_response_bytes), and the server.
  wide = await startTestMcpServer({
    extraTools: 0,
    listing: floodListing({ pages: 1, perPage: 20_000, toolBytes: 250, prefix: 'w' }),
  });
  deep = await startTestMcpServer({ extraTools: 0, listing: floodListing({ pages: 1_000, perPage: 200 }) });
  server = await startChildServer(
    tempDir(),
    { providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }] },
    { NODE_OPTIONS: '--inspect=127.0.0.1:0' },
  );
  inspector = await Inspector.connect(INSPECTOR_URL.exec(server.output())?.[1] as string);
}, 120_000);

afterAll(async () => {
  inspector?.close();
  await server?.stop();
  await wide?.stop();
  await deep?.stop();
  await upstream?.close();
});

async function ask(): Promise<void> {
  const res = await fetch(`${server.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': server.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
}

const readyz = async () => (await (await fetch(`${server.url}/readyz`)).json()).mcp_servers as Record<string, any>;

/** Rewrites the child's config file with these servers and reloads it (SIGHUP) until /readyz agrees. */
async function reloadWith(servers: object[], done: (status: Record<string, any>) => boolean): Promise<void> {
  const config = JSON.parse(readFileSync(server.configFile, 'utf8'));
  writeFileSync(server.configFile, JSON.stringify({ ...config, mcp_servers: servers }));
  process.kill(server.pid, 'SIGHUP');
  await waitUntil(async () => done(await readyz()), 60_000);
}

describe('MCP servers that list far too many tools', () => {
  it('inject at most mcp.max_tools, keep requests small, bound memory and give it back when removed', async () => {
    await ask(); // the request path compiled before the baseline
    const baseline = { heap: await inspector.heapUsedAfterGc(), rss: server.memory().rss };

    const servers = [
      { name: 'wide', url: wide.url },
      { name: 'deep', url: deep.url, max_tools_bytes: '8MiB' },
    ];
    await reloadWith(servers, (s) => s.wide?.state === 'ready' && s.deep?.state === 'ready');
    const status = await readyz();
    // Config order: wide fills the cap; deep's tools are all left out by it.
    expect(status.wide).toMatchObject({
      state: 'ready',
      tools: 128,
      left_out: { over_max_tools_bytes: expect.any(Number), unread: null },
    });
    // 1 MiB of definitions of about 225 bytes: about 4 600 of the 20 000 are held; the first 128 by name injected.
    expect(status.wide.left_out.over_max_tools_bytes).toBeGreaterThan(15_000);
    expect(status.wide.left_out.tools).toBe(20_000 - 128);
    expect(status.deep).toMatchObject({
      state: 'ready',
      tools: 0,
      left_out: {
        tools: 10_000,
        over_max_tools: 10_000,
        over_max_tools_bytes: 0,
        unread: expect.stringMatching(/^stopped reading tools\/list after page 50 \(10000 tools\)/),
      },
    });
    expect(status.deep.left_out.names).toHaveLength(100);

    seen.length = 0;
    for (let i = 0; i < 5; i++) await ask();
    const expected = Array.from({ length: 128 }, (_, n) => `bmcp_wide_${floodToolName(n, 'w')}`);
    for (const request of seen) {
      expect(request.names).toEqual(expected);
      expect(request.bytes).toBeLessThan(64 * 1024); // 128 definitions, not 75 MB
    }
    const loaded = { heap: await inspector.heapUsedAfterGc(), ...server.memory() };

    await reloadWith([], (s) => Object.keys(s).length === 0);
    await ask();
    const removed = { heap: await inspector.heapUsedAfterGc(), rss: server.memory().rss };
    const figures = {
      baseline_heap_mb: baseline.heap / MB,
      loaded_heap_mb: loaded.heap / MB,
      removed_heap_mb: removed.heap / MB,
      baseline_rss_mb: baseline.rss / MB,
      peak_rss_mb: loaded.peak / MB,
      removed_rss_mb: removed.rss / MB,
    };
    console.log(JSON.stringify(figures));
    // Generous: before the bounds one such server took the process from 0.2 to 1.6 GB.
    expect(loaded.peak - baseline.rss, JSON.stringify(figures)).toBeLessThan(300 * MB);
    expect(loaded.heap - baseline.heap, JSON.stringify(figures)).toBeLessThan(64 * MB);
    // What the servers' lists held (deep keeps 10 000 definitions) is let go with them.
    expect(removed.heap - baseline.heap, JSON.stringify(figures)).toBeLessThan((loaded.heap - baseline.heap) / 2);
  }, 180_000);
});
