import { type ChildProcess, spawn } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFileBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { CLI, NODE, ROOT, waitForOutput, waitUntil } from '../helpers/process.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest, ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-reload-');
const facts = manifest();
const KEY_VAR = 'AIBRIDGE_RELOAD_TEST_KEY';
const ASK = { model: 'claude-test-1', max_tokens: 512, messages: [{ role: 'user' as const, content: 'Go' }] };
const BEFORE = ['bmcp_test_echo', 'bmcp_test_fail', 'bmcp_test_image', 'bmcp_test_slow'];
const AFTER = ['bmcp_second_echo', 'bmcp_test_echo', 'bmcp_test_slow'];

let upstream: ReplayUpstream;
let mcp: TestMcpServer;
let second: TestMcpServer;

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  mcp = await startTestMcpServer({ extraTools: 0 });
  second = await startTestMcpServer({ extraTools: 0 });
});
afterAll(async () => {
  await upstream.close();
  await mcp.stop();
  await second.stop();
});
beforeEach(() => upstream.reset());

/** A whole config file: one Anthropic provider whose key comes from the environment, and MCP server `test`. */
function config(dataDir: string, overrides: Record<string, unknown> = {}) {
  return {
    listen: '127.0.0.1:0',
    data_dir: dataDir,
    retention: 0,
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: `\${${KEY_VAR}}` }],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|fail|slow|image)$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
    ...overrides,
  };
}

/** The config after the reload under test: a second server, and `test` loses fail and image by its regex. */
const grown = (dataDir: string, overrides: Record<string, unknown> = {}) =>
  config(dataDir, {
    mcp_servers: [
      { name: 'test', url: mcp.url, tool_allow_regex: '^(echo|slow)$' },
      { name: 'second', url: second.url, tool_allow_regex: '^echo$' },
    ],
    ...overrides,
  });

const toolNames = (request: { json: any } | undefined) => request?.json.tools?.map((t: { name: string }) => t.name);

describe('reloading the configuration of a running bridge', () => {
  let store: TestStore;
  let bridge: TestBridge;
  let anthropic: Anthropic;
  let dir: string;
  let file: string;
  const write = (doc: object) => writeFileSync(file, JSON.stringify(doc, null, 2));
  const scrape = async () => parsePrometheus(await (await fetch(`${bridge.url}/metrics`)).text());

  beforeAll(async () => {
    process.env[KEY_VAR] = 'sk-ant-first-key';
    dir = tempDir();
    file = join(dir, 'aibridge.json');
    write(config(join(dir, 'data')));
    store = await testStore('embedded', 'reload');
    bridge = await startFileBridge(store, file);
    const user = await bridge.user('dev');
    anthropic = new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: user.token, maxRetries: 0 });
  });
  afterAll(async () => {
    await bridge.close();
    await store.close();
    delete process.env[KEY_VAR];
  });

  it('lets a streaming tool loop in flight finish on what it started with; the next request gets the new tools', async () => {
    upstream.enqueue('anthropic-messages/injected-slow-tool.sse', 'anthropic-messages/after-tool.sse');
    const replaced = bridge.ctx.mcp?.manager.sharedProxies.find((p) => p.name === 'test');
    const release = mcp.hold();
    const finished = anthropic.messages.stream(ASK).finalMessage();
    try {
      await waitUntil(() => mcp.concurrency.now === 1); // the slow tool runs, and waits for release()
      write(grown(join(dir, 'data')));
      const result = await bridge.reload('SIGHUP');
      expect(result).toMatchObject({
        result: 'ok',
        changes: { sections: ['mcp_servers'], servers: { added: ['second'], removed: [], changed: ['test'] } },
      });
      // The changed server has a new connection; the request in flight still holds the old one.
      expect(bridge.ctx.mcp?.manager.sharedProxies).not.toContain(replaced);
      expect(replaced?.state).toBe('ready');
    } finally {
      release();
    }

    const message = await finished;
    expect(message.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual([
      facts['anthropic-messages/injected-slow-tool.sse']?.text,
      facts['anthropic-messages/after-tool.sse']?.text,
    ]);
    expect(upstream.requests.map(toolNames)).toEqual([BEFORE, BEFORE]);
    await bridge.ctx.recorder.flush();
    const [detail] = await store.audit.list({}, { limit: 1 });
    expect(detail?.interception.status).toBe('completed');
    expect(detail?.tool_usages).toEqual([
      expect.objectContaining({ tool: 'slow', invocation_error: null, output: 'slept 1500 ms' }),
    ]);
    // Closed once no request holds it.
    await waitUntil(() => replaced?.state === 'closed');

    upstream.enqueue('anthropic-messages/text.sse');
    await anthropic.messages.stream(ASK).finalMessage();
    expect(toolNames(upstream.requests.at(-1))).toEqual(AFTER);

    const ready = await (await fetch(`${bridge.url}/readyz`)).json();
    expect(ready.mcp_servers).toEqual({
      test: { state: 'ready', url: mcp.url, tools: 2, last_error: null },
      second: { state: 'ready', url: second.url, tools: 1, last_error: null },
    });
    const line = bridge.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'configuration reloaded');
    expect(line).toMatchObject({
      level: 30,
      trigger: 'SIGHUP',
      sections: ['mcp_servers'],
      mcp_servers: { added: ['second'], removed: [], changed: ['test'] },
    });
    expect((await scrape()).value('aibridge_config_reloads_total', { result: 'ok' })).toBe(1);
  });

  it('refuses a broken config with every problem by path, keeps the running one and counts it', async () => {
    const running = bridge.ctx.config;
    write({
      ...grown(join(dir, 'data')),
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: 'nope' }],
      tool_loop: { max_iterations: 0 },
    });
    const result = await bridge.reload('SIGHUP');
    expect(result.result).toBe('refused');
    const problems = result.result === 'refused' ? result.problems : [];
    expect(problems).toEqual(
      expect.arrayContaining([
        'providers[0].base_url: must be an http:// or https:// URL',
        'tool_loop.max_iterations: must be at least 1',
      ]),
    );
    expect(bridge.ctx.config).toBe(running);
    const logged = bridge.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith('configuration refused'));
    expect(logged).toMatchObject({ level: 50, problems });

    // Valid, but unusable: a per-user server needs the credentials key, which this process lacks.
    const key = process.env.AIBRIDGE_CREDENTIALS_KEY;
    delete process.env.AIBRIDGE_CREDENTIALS_KEY;
    const perUser = { name: 'personal', url: second.url, per_user_credentials: true };
    write(grown(join(dir, 'data'), { mcp_servers: [...grown('').mcp_servers, perUser] }));
    const unusable = await bridge.reload('SIGHUP');
    if (key !== undefined) process.env.AIBRIDGE_CREDENTIALS_KEY = key;
    expect(unusable).toMatchObject({
      result: 'refused',
      problems: [expect.stringContaining('AIBRIDGE_CREDENTIALS_KEY')],
    });
    expect(bridge.ctx.config).toBe(running);

    upstream.enqueue('anthropic-messages/text.json');
    await anthropic.messages.create(ASK);
    expect(toolNames(upstream.requests.at(-1))).toEqual(AFTER);
    const metrics = await scrape();
    expect(metrics.value('aibridge_config_reloads_total', { result: 'refused' })).toBe(2);
    expect(metrics.value('aibridge_config_reloads_total', { result: 'ok' })).toBe(1);
  });

  it('uses a new provider key from the next request on, and keeps restart-only settings', async () => {
    const before = bridge.ctx.providers[0];
    process.env[KEY_VAR] = 'sk-ant-second-key'; // the file is the same; ${VAR} is read again
    write(grown(join(dir, 'data'), { listen: '127.0.0.1:1' }));
    const result = await bridge.reload('SIGHUP');
    expect(result).toMatchObject({ result: 'ok', changes: { sections: ['providers'], needRestart: ['listen'] } });
    expect(bridge.ctx.config.listen).toBe('127.0.0.1:0');
    expect(bridge.logs.text).toMatch(/"settings":\["listen"\].*needs a restart/);
    await waitUntil(() => before?.dispatcher.closed === true); // nothing held it

    upstream.enqueue('anthropic-messages/text.json');
    await anthropic.messages.create(ASK);
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe('sk-ant-second-key');
  });

  it('with watch_config: true, applies a change of the file, even one that replaces it', async () => {
    write(grown(join(dir, 'data'), { watch_config: true }));
    expect(await bridge.reload('SIGHUP')).toMatchObject({ result: 'ok', changes: { sections: ['watch_config'] } });

    // As editors save: a new file renamed over the old one.
    const next = grown(join(dir, 'data'), { watch_config: true });
    const [test] = next.mcp_servers as Array<Record<string, string>>;
    if (test) test.tool_deny_regex = '^echo$';
    writeFileSync(`${file}.tmp`, JSON.stringify(next));
    renameSync(`${file}.tmp`, file);
    await waitUntil(() => bridge.ctx.config.mcp_servers[0]?.tool_deny_regex === '^echo$');

    upstream.enqueue('anthropic-messages/text.json');
    await anthropic.messages.create(ASK);
    expect(toolNames(upstream.requests.at(-1))).toEqual(['bmcp_second_echo', 'bmcp_test_slow']);
    expect(bridge.logs.text).toContain('"trigger":"file change"');
  });
});

describe('aibridge server (the CLI) on SIGHUP', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('re-reads its config file and the next request has the new tool set', async () => {
    const dir = tempDir();
    const file = join(dir, 'aibridge.json');
    writeFileSync(file, JSON.stringify(config(join(dir, 'data'))));
    const server = spawn(NODE, [CLI, 'server', '--config', file], {
      cwd: ROOT,
      env: { ...process.env, [KEY_VAR]: 'sk-ant-cli-key' },
      stdio: 'pipe',
    });
    child = server;
    const output = await waitForOutput(server, /ANTHROPIC_AUTH_TOKEN=\S+/);
    const token = /ANTHROPIC_AUTH_TOKEN=(\S+)/.exec(output)?.[1] as string;
    const url = /ANTHROPIC_BASE_URL=(http:\/\/127\.0\.0\.1:\d+)\/anthropic/.exec(output)?.[1] as string;

    writeFileSync(file, JSON.stringify(grown(join(dir, 'data'))));
    const reloaded = waitForOutput(server, /"msg":"configuration reloaded"/);
    server.kill('SIGHUP');
    expect(await reloaded).toContain('"added":["second"]');

    const ready = await (await fetch(`${url}/readyz`)).json();
    expect(Object.keys(ready.mcp_servers).sort()).toEqual(['second', 'test']);
    upstream.enqueue('anthropic-messages/text.json');
    const client = new Anthropic({ baseURL: `${url}/anthropic`, apiKey: token, maxRetries: 0 });
    await client.messages.create(ASK);
    expect(toolNames(upstream.requests.at(-1))).toEqual(AFTER);
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe('sk-ant-cli-key');

    const exited = new Promise<number | null>((r) => server.once('exit', r));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
