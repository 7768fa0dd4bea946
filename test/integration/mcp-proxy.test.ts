import { createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { McpServerConfig } from '../../src/config/config.ts';
import { ProxyBridge } from '../../src/mcp/proxy-bridge.ts';
import { ServerProxyManager } from '../../src/mcp/server-proxy-manager.ts';
import { StreamableHTTPServerProxy } from '../../src/mcp/streamable-http-proxy.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { LogCapture } from '../helpers/bridge.ts';
import { startTestMcpServer, type TestMcpServer, TINY_PNG } from '../helpers/mcp-server.ts';

const logs = new LogCapture();
const logger = createLogger({ level: 'debug', destination: logs });
const FAST = { connectTimeoutMs: 2_000, retryInitialMs: 50, retryMaxMs: 200 };

function cfg(name: string, url: string, extra: Partial<McpServerConfig> = {}): McpServerConfig {
  return { name, url, headers: {}, per_user_credentials: false, call_timeout: '5s', ...extra };
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function proxyFor(server: TestMcpServer, extra: Partial<McpServerConfig> = {}) {
  const proxy = new StreamableHTTPServerProxy(cfg('test', server.url, extra), { logger, ...FAST });
  cleanup.push(() => proxy.close());
  expect(await proxy.init()).toBe(true);
  return proxy;
}

describe('StreamableHTTPServerProxy', () => {
  let server: TestMcpServer;
  const longA = `read_${'a'.repeat(70)}_first`;
  const longB = `read_${'a'.repeat(70)}_second`;
  beforeAll(async () => {
    server = await startTestMcpServer({ pageSize: 50, extraTools: 120, namedTools: [longA, longB, 'files.read'] });
  });
  afterAll(() => server.stop());

  it('lists every page, sorted, with descriptions and schemas as given', async () => {
    const listsBefore = server.requests.length;
    const proxy = await proxyFor(server);
    const names = proxy.tools.map((t) => t.name);
    expect(proxy.tools).toHaveLength(server.toolNames().length);
    expect(proxy.tools.length).toBeGreaterThan(100); // more than two pages of 50
    expect(names).toEqual([...names].sort());
    expect(server.requests.length - listsBefore).toBeGreaterThanOrEqual(4); // initialize + initialized + 3 pages
    const echo = proxy.tools.find((t) => t.rawName === 'echo');
    expect(echo).toEqual({
      name: 'bmcp_test_echo',
      server: 'test',
      serverUrl: server.url,
      rawName: 'echo',
      description: 'Returns the text it is given.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
    });
    expect(proxy.status()).toEqual({ state: 'ready', url: server.url, tools: proxy.tools.length, last_error: null });
  });

  it('applies allow and deny on raw names, deny winning', async () => {
    const proxy = await proxyFor(server, {
      tool_allow_regex: '^(echo|fail|extra_00)',
      tool_deny_regex: 'fail|extra_005',
    });
    expect(proxy.tools.map((t) => t.rawName)).toEqual([
      'echo',
      ...['000', '001', '002', '003', '004', '006', '007', '008', '009'].map((n) => `extra_${n}`),
    ]);
    const denied = await proxy.callTool('fail', {});
    expect(denied.isError).toBe(true);
    expect(denied.error).toMatch(/unknown tool "fail"/);
    expect(server.calls.get('fail') ?? 0).toBe(0);
  });

  it('shortens long and odd names stably, uniquely, and still calls the raw tool', async () => {
    const proxy = await proxyFor(server);
    const a = proxy.tools.find((t) => t.rawName === longA);
    const b = proxy.tools.find((t) => t.rawName === longB);
    const dotted = proxy.tools.find((t) => t.rawName === 'files.read');
    for (const t of [a, b, dotted]) expect(t?.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(a?.name).toHaveLength(64);
    expect(a?.name).not.toBe(b?.name);
    const again = await proxyFor(server);
    expect(again.tools.find((t) => t.rawName === longA)?.name).toBe(a?.name);
    const result = await proxy.callTool(longB, {});
    expect(result.content).toEqual([{ type: 'text', text: `${longB} ok` }]);
    expect(server.calls.get(longB)).toBe(1);
  });

  it('returns text and structured content', async () => {
    const proxy = await proxyFor(server);
    const result = await proxy.callTool('echo', { text: 'hello there' });
    expect(result).toMatchObject({ isError: false, error: null });
    expect(result.content).toEqual([
      { type: 'text', text: 'hello there' },
      { type: 'text', text: JSON.stringify({ echoed: 'hello there', length: 11 }) },
    ]);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('passes images through', async () => {
    const proxy = await proxyFor(server);
    const result = await proxy.callTool('image', {});
    expect(result.isError).toBe(false);
    expect(result.content).toEqual([
      { type: 'text', text: 'a 1x1 image' },
      { type: 'image', data: TINY_PNG, mimeType: 'image/png' },
    ]);
  });

  it('turns a tool error result into isError with its message', async () => {
    const proxy = await proxyFor(server);
    const result = await proxy.callTool('fail', {});
    expect(result).toMatchObject({ isError: true, error: 'this tool always fails' });
    expect(result.content).toEqual([{ type: 'text', text: 'this tool always fails' }]);
  });

  it('times out a slow call after call_timeout', async () => {
    const proxy = await proxyFor(server, { call_timeout: '300ms' });
    const started = Date.now();
    const result = await proxy.callTool('slow', { ms: 3_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.isError).toBe(true);
    expect(result.error).toMatch(/timed out after 300 ms/);
    expect((await proxy.callTool('slow', { ms: 10 })).isError).toBe(false); // the connection survives
  });

  it('fails a call whose answer passes max_response_bytes, sized or streamed, and goes on', async () => {
    const big = await startTestMcpServer({
      extraTools: 0,
      answers: { sized: 'x'.repeat(2_000_000) },
      streamedAnswers: { streamed: 2_000_000, fits: 1_000 },
    });
    cleanup.push(() => big.stop());
    const proxy = await proxyFor(big, { max_response_bytes: '1MiB', call_timeout: '20s' });
    for (const tool of ['sized', 'streamed']) {
      // Told why at once, not "timed out" after call_timeout (the SDK alone waits on a cut stream).
      const result = await proxy.callTool(tool, {});
      expect(result.isError, tool).toBe(true);
      expect(result.error, tool).toMatch(/answer exceeded 1048576 bytes \(max_response_bytes\)/);
      expect((await proxy.callTool('echo', { text: 'after' })).content).toContainEqual({ type: 'text', text: 'after' });
    }
    expect((await proxy.callTool('fits', {})).isError).toBe(false);
  });

  it('reports cancellation, unknown tools and bad arguments as error results', async () => {
    const proxy = await proxyFor(server);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const cancelled = await proxy.callTool('slow', { ms: 3_000 }, { signal: abort.signal });
    expect(cancelled.error).toMatch(/cancelled/);
    expect((await proxy.callTool('nope', {})).error).toMatch(/unknown tool "nope" on MCP server "test"/);
    expect((await proxy.callTool('echo', 'text')).error).toMatch(/must be a JSON object/);
  });

  it('refreshes on notifications/tools/list_changed', async () => {
    const proxy = await proxyFor(server);
    const changed = vi.fn();
    proxy.onToolsChanged(changed);
    await server.addTool('added_later');
    await vi.waitFor(() => expect(proxy.tools.some((t) => t.name === 'bmcp_test_added_later')).toBe(true));
    expect((await proxy.callTool('added_later', {})).content).toEqual([{ type: 'text', text: 'added_later ok' }]);
    await server.removeTool('added_later');
    await vi.waitFor(() => expect(proxy.tools.some((t) => t.rawName === 'added_later')).toBe(false));
    expect(changed).toHaveBeenCalledTimes(2);
    const names = proxy.tools.map((t) => t.name);
    expect(names).toEqual([...names].sort());
  });

  it('never logs configured header values', async () => {
    const proxy = await proxyFor(server, { headers: { Authorization: 'Bearer very-secret-static' } });
    expect((await proxy.callTool('whoami', {})).content).toEqual([{ type: 'text', text: 'Bearer very-secret-static' }]);
    expect(logs.text).not.toContain('very-secret-static');
  });
});

describe('reconnects', () => {
  it('a server down at start-up is reported, retried, and used once up', async () => {
    const server = await startTestMcpServer({ extraTools: 0 });
    await server.stop();
    cleanup.push(() => server.stop());
    const manager = new ServerProxyManager([cfg('late', server.url)], logger, FAST);
    cleanup.push(() => manager.close());
    const started = Date.now();
    await manager.init();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(manager.status().late).toMatchObject({ state: 'failed', tools: 0, url: server.url });
    expect(manager.status().late?.last_error).toMatch(/fetch failed|ECONNREFUSED/);
    expect(manager.tools()).toEqual([]);
    const down = await manager.sharedBridge().call('bmcp_late_echo', { text: 'x' });
    expect(down.isError).toBe(true);

    await server.start();
    await vi.waitFor(() => expect(manager.status().late?.state).toBe('ready'), { timeout: 5_000 });
    expect(manager.tools().map((t) => t.rawName)).toEqual(server.toolNames());
    const up = await manager.sharedBridge().call('bmcp_late_echo', { text: 'back' });
    expect(up.content[0]).toEqual({ type: 'text', text: 'back' });
  });

  it('a server that drops is marked failed, then reconnected with a new session', async () => {
    const server = await startTestMcpServer({ extraTools: 0 });
    cleanup.push(() => server.stop());
    const proxy = await proxyFor(server);
    const bridge = new ProxyBridge([proxy]);
    const tools = bridge.tools;
    await server.stop();
    await vi.waitFor(() => expect(proxy.state).toBe('failed'), { timeout: 5_000 });
    // The last known list stays offered (the prompt cache survives); calls say why they fail.
    expect(bridge.tools).toBe(tools);
    expect(proxy.status()).toMatchObject({
      state: 'failed',
      tools: 5,
      last_error: expect.stringMatching(/fetch failed/),
    });
    const down = await bridge.call('bmcp_test_echo', { text: 'x' });
    expect(down).toMatchObject({ isError: true });
    expect(down.error).toMatch(/MCP server "test" is unavailable: fetch failed/);

    await server.start();
    await vi.waitFor(() => expect(proxy.state).toBe('ready'), { timeout: 5_000 });
    expect((await proxy.callTool('echo', { text: 'again' })).content[0]).toEqual({ type: 'text', text: 'again' });
  });

  it('a lost session (404) is re-initialised and the call retried once', async () => {
    const server = await startTestMcpServer({ extraTools: 0 });
    cleanup.push(() => server.stop());
    const proxy = await proxyFor(server);
    server.forgetSessions();
    const result = await proxy.callTool('echo', { text: 'after expiry' });
    expect(result.content[0]).toEqual({ type: 'text', text: 'after expiry' });
    expect(server.calls.get('echo')).toBe(1);
    expect(proxy.state).toBe('ready');
  });

  it('recovers from a quick restart', async () => {
    const server = await startTestMcpServer({ extraTools: 0 });
    cleanup.push(() => server.stop());
    const proxy = await proxyFor(server);
    await server.stop();
    await server.start();
    await vi.waitFor(
      async () =>
        expect((await proxy.callTool('echo', { text: 'after restart' })).content[0]).toEqual({
          type: 'text',
          text: 'after restart',
        }),
      { timeout: 5_000, interval: 100 },
    );
    expect(proxy.state).toBe('ready');
  });

  it('init is bounded when a server accepts connections but never answers', async () => {
    const sockets: Socket[] = [];
    const blackhole = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', () => r()));
    cleanup.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => blackhole.close(r));
    });
    const port = (blackhole.address() as { port: number }).port;
    const manager = new ServerProxyManager([cfg('hang', `http://127.0.0.1:${port}/mcp`)], logger, {
      ...FAST,
      connectTimeoutMs: 300,
      retryInitialMs: 60_000,
    });
    cleanup.push(() => manager.close());
    const started = Date.now();
    await manager.init();
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(manager.status().hang).toMatchObject({ state: 'failed', last_error: 'no answer within 300 ms' });
  });
});

describe('ServerProxyManager', () => {
  it('merges servers into one byte-stable sorted list and reports each', async () => {
    const one = await startTestMcpServer({ extraTools: 3 });
    const two = await startTestMcpServer({ extraTools: 0 });
    cleanup.push(
      () => one.stop(),
      () => two.stop(),
    );
    const manager = new ServerProxyManager(
      [cfg('zeta', one.url), cfg('alpha', two.url, { tool_deny_regex: '^(slow|image)$' })],
      logger,
      FAST,
    );
    cleanup.push(() => manager.close());
    await manager.init();
    const tools = manager.tools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual([...names].sort());
    expect(names.slice(0, 3)).toEqual(['bmcp_alpha_echo', 'bmcp_alpha_fail', 'bmcp_alpha_whoami']);
    expect(names).toContain('bmcp_zeta_extra_002');
    expect(manager.tools()).toBe(tools); // same array until a list changes
    expect(JSON.stringify(manager.tools())).toBe(JSON.stringify(tools));
    expect(manager.status()).toEqual({
      zeta: { state: 'ready', url: one.url, tools: 8, last_error: null },
      alpha: { state: 'ready', url: two.url, tools: 3, last_error: null },
    });

    const bridge = manager.sharedBridge();
    expect(bridge.find('bmcp_zeta_echo')?.serverUrl).toBe(one.url);
    expect((await bridge.call('bmcp_alpha_echo', { text: 'hi' })).content[0]).toEqual({ type: 'text', text: 'hi' });
    expect(two.calls.get('echo')).toBe(1);
    expect(one.calls.get('echo') ?? 0).toBe(0);
    const unknown = await bridge.call('bmcp_alpha_slow', {});
    expect(unknown).toMatchObject({ isError: true, error: 'unknown tool "bmcp_alpha_slow"', durationMs: 0 });

    await one.addTool('new_one');
    await vi.waitFor(() => expect(bridge.find('bmcp_zeta_new_one')).toBeDefined());
    expect(manager.tools()).not.toBe(tools);

    await manager.close();
    expect(manager.status().zeta?.state).toBe('closed');
    expect((await bridge.call('bmcp_alpha_echo', {})).isError).toBe(true);
  });
});
