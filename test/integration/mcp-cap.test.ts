import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFileBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest, ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-mcp-cap-');
const facts = manifest();
const ASK = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Go' }] };
const names = (request: { json: any } | undefined): string[] =>
  (request?.json.tools ?? []).map((t: any) => t.name ?? t.function?.name);

/** A server's tools by raw name, as the test server lists them: five built-ins and extra_000… */
const rawNames = (extra: number) =>
  [
    'echo',
    'fail',
    'image',
    'slow',
    'whoami',
    ...Array.from({ length: extra }, (_, i) => `extra_${String(i).padStart(3, '0')}`),
  ].sort();

describe('two servers whose tools together exceed mcp.max_tools', () => {
  let upstream: ReplayUpstream;
  let zeta: TestMcpServer;
  let alpha: TestMcpServer;
  let store: TestStore;
  let bridge: TestBridge;
  let file: string;
  // Config order zeta, alpha: zeta's 105 tools all fit in 128; alpha gets the 23 first by name.
  const zetaNames = rawNames(100).map((n) => `bmcp_zeta_${n}`);
  const alphaAll = rawNames(100).map((n) => `bmcp_alpha_${n}`);
  const alphaKept = alphaAll.slice(0, 23);
  const alphaLeftOut = alphaAll.slice(23);
  const offered = [...alphaKept, ...zetaNames].sort();

  const start = async () => {
    bridge = await startFileBridge(store, file);
    const user = await bridge.user('dev');
    return new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: user.token, maxRetries: 0 });
  };
  const capWarnings = () =>
    bridge.logs.lines.map((l) => JSON.parse(l)).filter((l) => String(l.msg).includes('over mcp.max_tools'));

  beforeAll(async () => {
    upstream = await ReplayUpstream.start();
    upstream.setDefault('anthropic-messages/text.json');
    zeta = await startTestMcpServer({ extraTools: 100 });
    alpha = await startTestMcpServer({ extraTools: 100, pageSize: 30 });
    const dir = tempDir();
    file = join(dir, 'aibridge.json');
    writeFileSync(
      file,
      JSON.stringify({
        listen: '127.0.0.1:0',
        data_dir: join(dir, 'data'),
        retention: 0,
        providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
        mcp_servers: [
          { name: 'zeta', url: zeta.url },
          { name: 'alpha', url: alpha.url },
        ],
      }),
    );
    store = await testStore('embedded', 'mcp-cap');
  });
  afterAll(async () => {
    await bridge?.close();
    await store?.close();
    await zeta?.stop();
    await alpha?.stop();
    await upstream?.close();
  });

  it('offers the same 128, servers in config order and each by name, on every request and after a restart', async () => {
    let anthropic = await start();
    for (let i = 0; i < 3; i++) await anthropic.messages.create(ASK);
    const status = (await (await fetch(`${bridge.url}/readyz`)).json()).mcp_servers;
    expect(status).toEqual({
      zeta: { state: 'ready', url: zeta.url, tools: 105, last_error: null },
      alpha: {
        state: 'ready',
        url: alpha.url,
        tools: 23,
        last_error: null,
        left_out: { tools: 82, over_max_tools: 82, over_max_tools_bytes: 0, unread: null, names: alphaLeftOut },
      },
    });
    await fetch(`${bridge.url}/readyz`);
    // Said once, when the server connected: not per request, not per /readyz.
    expect(capWarnings()).toEqual([
      expect.objectContaining({ level: 40, mcp_server: 'alpha', tools: 23, left_out: 82, max_tools: 128 }),
    ]);

    await bridge.close();
    anthropic = await start();
    await anthropic.messages.create(ASK);
    expect(upstream.requests).toHaveLength(4);
    for (const request of upstream.requests) expect(names(request)).toEqual(offered);
    expect(capWarnings()).toHaveLength(1);
  });

  it('aibridge mcp check names what is left out, as the bridge leaves it out', async () => {
    const json = await runCli(['mcp', 'check', '--config', file, '-o', 'json']);
    expect(json.code).toBe(0);
    const [z, a] = JSON.parse(json.stdout);
    expect(z).toMatchObject({ name: 'zeta', tools: 105, injected: zetaNames });
    expect(z.left_out).toBeUndefined();
    expect(a).toMatchObject({
      name: 'alpha',
      tools: 105,
      injected: alphaKept,
      left_out: { tools: 82, over_max_tools: 82, over_max_tools_bytes: 0, unread: null, names: alphaLeftOut },
    });

    const table = await runCli(['mcp', 'check', '--config', file]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`\\nalpha\\s+${alpha.url}\\s+ready\\s+105\\s+82\\s`));
    expect(table.stdout).toContain(
      `  bmcp_alpha_extra_021\n  left out: 82 over mcp.max_tools (all servers together)\n  - bmcp_alpha_extra_022\n`,
    );
  });
});

describe('a client tool named like an injected one', () => {
  let h: Harness;
  let mcp: TestMcpServer;
  const INJECTED = ['bmcp_test_echo', 'bmcp_test_fail', 'bmcp_test_image', 'bmcp_test_slow'];

  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
    h = await startHarness('mcp-cap-client-wins', {
      mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|fail|slow|image)$' }],
      tool_loop: { max_iterations: 4 },
    });
  });
  afterAll(async () => {
    await h.close();
    await mcp.stop();
  });
  beforeEach(() => h.upstream.reset());

  it('wins: the injected one is left out, and the model calls the client’s (Anthropic)', async () => {
    const clientEcho = {
      name: 'bmcp_test_echo',
      description: "The client's own echo.",
      input_schema: { type: 'object' as const },
    };
    h.upstream.enqueue('anthropic-messages/injected-tool.json');
    const message = await h.anthropic.messages.create({ ...ASK, tools: [clientEcho] });
    const call = facts['anthropic-messages/injected-tool.json']?.tool_calls[0];
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.at(-1)).toMatchObject({ type: 'tool_use', id: call?.id, name: 'bmcp_test_echo' });
    expect(h.upstream.requests).toHaveLength(1); // the client answers it, not the bridge
    const sent = h.upstream.requests[0]?.json.tools;
    expect(names(h.upstream.requests[0])).toEqual([
      'bmcp_test_fail',
      'bmcp_test_image',
      'bmcp_test_slow',
      'bmcp_test_echo',
    ]);
    expect(sent.at(-1)).toEqual(clientEcho);
    expect(mcp.calls.get('echo')).toBeUndefined();
    const r = await h.records();
    expect(r.tools).toEqual([
      expect.objectContaining({ tool_call_id: call?.id, tool: 'bmcp_test_echo', injected: false, server_url: null }),
    ]);

    // Only in that request: the next one, without the client's tool, is offered the injected one.
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create(ASK);
    expect(names(h.upstream.requests[1])).toEqual(INJECTED);
    await h.records();
  });

  it('wins in Chat Completions too, streaming', async () => {
    const clientEcho = {
      type: 'function' as const,
      function: { name: 'bmcp_test_echo', parameters: { type: 'object' } },
    };
    h.upstream.enqueue('openai-chat/injected-tool.sse');
    const stream = await h.openai.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Go' }],
      tools: [clientEcho],
      stream: true,
    });
    const called: string[] = [];
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? [])
        if (delta.function?.name) called.push(delta.function.name);
    }
    expect(called).toEqual(['bmcp_test_echo']);
    expect(h.upstream.requests).toHaveLength(1);
    expect(names(h.upstream.requests[0])).toEqual([
      'bmcp_test_fail',
      'bmcp_test_image',
      'bmcp_test_slow',
      'bmcp_test_echo',
    ]);
    expect(mcp.calls.get('echo')).toBeUndefined();
    const r = await h.records();
    expect(r.tools).toEqual([expect.objectContaining({ tool: 'bmcp_test_echo', injected: false })]);
  });
});
