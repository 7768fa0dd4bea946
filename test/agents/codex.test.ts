import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { openaiKind } from '../../src/providers/kinds/openai/index.ts';
import { manifest } from '../helpers/upstream.ts';
import { codexLogin, codexSession } from './app-server.ts';
import { pathWithNode } from './install.ts';
import { agentFacts } from './router.ts';
import { agentStage } from './stage.ts';
import {
  type AgentRun,
  baseEnv,
  describeRun,
  type Exchange,
  recordedSince,
  runAgent,
  traceTraffic,
  upstreamSaw,
  usageOf,
} from './support.ts';

/**
 * The real, unmodified Codex CLI (`codex exec`, and `codex app-server` for a session of several turns) through the bridge, against the replaying
 * upstream, offline. A tap between the CLI and the bridge keeps every request it sent.
 */

/** Provided by test/agents/global-setup.ts; absent when a run without it (plain `npm test`) picks this file up. */
const agents = inject('agents');
const facts = manifest();
const RUN_TIMEOUT = 60_000;
const TEXT = facts['openai-responses/text.sse']!;
const CALL = facts['openai-responses/injected-tool.sse']!;
const AFTER = facts['openai-responses/after-tool.sse']!;
const EXEC = agentFacts()['agents/codex-exec.sse']!;
const AFTER_EXEC = agentFacts()['agents/codex-after-exec.sse']!;
const NOTE = 'the note says 42\n';

const stage = agentStage('agents-codex');
const { home: newHome } = stage;

/**
 * How Codex is pointed at the bridge: `defaults` is its built-in provider with the base URL and
 * key the bridge's first-start banner gives (it talks Responses over WebSocket); `http` and
 * `ws-block` are a provider block of our own without and with `supports_websockets`.
 */
type Setup = 'defaults' | 'http' | 'ws-block';

/** What the bridge's first-start banner tells a Codex user: the `openai_base_url` and the environment. */
function banner(): { baseUrl: string; env: Record<string, string> } {
  const lines = openaiKind.clientSetup(stage.tap.url, { name: 'openai', type: 'openai' }, stage.h.token);
  const env: Record<string, string> = {};
  let codex = false;
  let baseUrl = '';
  for (const line of lines) {
    if (/^\S/.test(line)) codex = line.startsWith('Codex');
    const url = /openai_base_url = "([^"]+)"/.exec(line);
    if (codex && url) baseUrl = url[1]!;
    const m = /^\s+export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (codex && m) env[m[1]!] = m[2]!;
  }
  return { baseUrl, env };
}

/**
 * `$CODEX_HOME/config.toml`: the bridge as Codex's built-in provider or as a Responses provider
 * block, and the features that call OpenAI's or GitHub's own services (analytics, feedback, the
 * plugin marketplace) off.
 */
function configToml(setup: Setup): string {
  const top =
    setup === 'defaults'
      ? [`openai_base_url = "${banner().baseUrl}"`]
      : [
          'model_provider = "aibridge"',
          '',
          '[model_providers.aibridge]',
          'name = "AI Bridge"',
          `base_url = "${stage.tap.url}/openai/v1"`,
          'env_key = "AIBRIDGE_TOKEN"',
          'wire_api = "responses"',
          `supports_websockets = ${setup === 'ws-block'}`,
        ];
  return [
    'model = "gpt-4.1"',
    'check_for_update_on_startup = false',
    ...top,
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    '',
  ].join('\n');
}

/** A fresh HOME and CODEX_HOME for one Codex run, every other host behind a refusing proxy. */
function prepare(setup: Setup, files: Record<string, string> = {}) {
  const home = newHome('aibridge-codex-');
  const codexHome = join(home, '.codex');
  const cwd = join(home, 'project');
  mkdirSync(codexHome);
  mkdirSync(cwd);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text);
  writeFileSync(join(codexHome, 'config.toml'), configToml(setup));
  const env = baseEnv({
    HOME: home,
    CODEX_HOME: codexHome,
    ...(setup === 'defaults' ? banner().env : { AIBRIDGE_TOKEN: stage.h.token }),
    PATH: pathWithNode(),
    HTTPS_PROXY: stage.sink.url,
    HTTP_PROXY: stage.sink.url,
    NO_PROXY: '127.0.0.1,localhost',
  });
  return { cwd, env };
}

/** Runs `codex exec PROMPT`. */
async function codex(
  prompt: string,
  options: { setup?: Setup; files?: Record<string, string> } = {},
): Promise<AgentRun> {
  const { cwd, env } = prepare(options.setup ?? 'http', options.files);
  // exec never asks for approval; its default read-only sandbox is enough (the client-tool run
  // only reads note.txt, through Codex's bundled bubblewrap).
  const args = ['exec', '--skip-git-repo-check', '--color', 'never', prompt];
  const run = await runAgent(agents.codex, args, { cwd, env, timeoutMs: RUN_TIMEOUT });
  traceTraffic(`codex ${args.join(' ')}`, stage.tap, stage.h.upstream.requests, stage.sink.attempts);
  return run;
}

const isResponses = (e: Exchange) => e.method === 'POST' && /^\/openai\/v1\/responses(\?|$)/.test(e.path);

/** What every run must show: returns the model calls the CLI made and what was recorded. */
async function expectBridged(run: AgentRun, since: Date) {
  const why = () => describeRun(run, [stage.h.token]);
  expect(run.code, why()).toBe(0);
  expect(stage.router.unexpected, 'requests the replaying upstream had no fixture for').toEqual([]);
  expect(stage.sink.attempts, 'traffic to hosts other than the bridge').toEqual([]);

  const unanswered = stage.tap.exchanges
    .filter((e) => !e.upgrade && (e.status === 0 || e.status >= 400))
    .map((e) => `${e.method} ${e.path} → ${e.status}`);
  expect(unanswered, 'requests the bridge refused or failed').toEqual([]);
  for (const e of stage.tap.exchanges) expect(e.credential, `${e.method} ${e.path}`).toBe('authorization');

  const calls = stage.tap.exchanges.filter(isResponses);
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    expect(call.headers['user-agent']).toMatch(/^codex_(exec|cli_rs)\/\d+\.\d+\.\d+/);
    expect(call.headers.originator).toMatch(/^codex_/);
    expect(call.headers['session-id']).toBeTruthy();
    expect(call.body?.stream).toBe(true);
  }
  const sessionId = calls[0]!.headers['session-id'];

  const recorded = await recordedSince(stage.h, since, calls.length);
  expect(recorded).toHaveLength(calls.length);
  for (const r of recorded) {
    expect(r.interception).toMatchObject({
      initiator_id: stage.h.userId,
      api_key_id: stage.h.apiKeyId,
      provider: 'openai',
      provider_name: 'openai',
      model: 'gpt-4.1',
      client: 'Codex',
      client_session_id: sessionId,
      status: 'completed',
    });
    expect(r.interception.user_agent).toBe(calls[0]!.headers['user-agent']);
  }

  expect(upstreamSaw(stage.h.upstream.requests, stage.h.token), 'the upstream saw the bridge token').toBe(false);
  const models = stage.h.upstream.requests.filter((r) => r.path.startsWith('/v1/responses'));
  expect(models.length).toBeGreaterThanOrEqual(calls.length);
  for (const r of models) {
    expect(r.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    expect(r.headers['x-api-key']).toBeUndefined();
    expect(r.headers['session-id']).toBe(sessionId);
    expect(r.headers.originator).toBe(calls[0]!.headers.originator);
    expect(r.headers['user-agent']).toBe(calls[0]!.headers['user-agent']);
  }

  // The first model call went up as sent, but for the injected tool added to Codex's own
  // (function, namespace and web_search tools pass through untouched) and parallel tool calls,
  // which the bridge turns off while it injects tools.
  const { tools: sentTools, parallel_tool_calls: _sentParallel, ...sent } = calls[0]!.body;
  const { tools: upTools, parallel_tool_calls: _upParallel, ...up } = models[0]!.json;
  expect(up).toEqual(sent);
  const injected = upTools.filter((t: any) => t.name === 'bmcp_test_echo');
  expect(injected).toHaveLength(1);
  expect(upTools.filter((t: any) => t.name !== 'bmcp_test_echo')).toEqual(sentTools);
  return { calls, recorded, sessionId };
}

/** `response.create` messages the bridge saw, by input (warmup, chained, full). */
async function socketRequests(): Promise<{ warmup: number; chained: number; full: number }> {
  const metric = await stage.h.bridge.ctx.metrics.registry.getSingleMetric('aibridge_websocket_requests_total')?.get();
  const count = (input: string) => metric?.values.find((v) => v.labels.input === input)?.value ?? 0;
  return { warmup: count('warmup'), chained: count('chained'), full: count('full') };
}

/** Transport members a request that came over the WebSocket must not carry to the HTTP upstream. */
const SOCKET_ONLY = ['type', 'previous_response_id', 'generate', 'client_metadata'];

/**
 * What every run over the WebSocket must show: one socket, no model call over HTTP (no
 * fallback), every response recorded like an HTTP one (plus `transport: websocket`), and upstream
 * HTTP calls that carry the upgrade's headers but nothing of the transport. Codex's warm-up never
 * went up: one upstream call per recorded token usage.
 */
async function expectOverWebSocket(run: AgentRun, since: Date, interceptions: number) {
  const why = () => describeRun(run, [stage.h.token]);
  expect(run.code, why()).toBe(0);
  expect(stage.router.unexpected, 'requests the replaying upstream had no fixture for').toEqual([]);
  expect(stage.sink.attempts, 'traffic to hosts other than the bridge').toEqual([]);

  const upgrades = stage.tap.exchanges.filter((e) => e.upgrade);
  expect(
    upgrades.map((u) => `${u.path} → ${u.status}`),
    'one socket, accepted',
  ).toEqual(['/openai/v1/responses → 101']);
  const [upgrade] = upgrades as [Exchange];
  expect(upgrade.credential).toBe('authorization');
  expect(upgrade.headers['openai-beta']).toMatch(/^responses_websockets=/);
  expect(upgrade.headers['user-agent']).toMatch(/^codex_[a-z]+\/\d+\.\d+\.\d+/);
  expect(upgrade.headers.originator).toMatch(/^codex_/);
  const sessionId = upgrade.headers['session-id'];
  expect(sessionId).toBeTruthy();
  expect(stage.tap.exchanges.filter(isResponses), 'model calls over HTTP: Codex fell back').toEqual([]);
  const refused = stage.tap.exchanges
    .filter((e) => !e.upgrade && (e.status === 0 || e.status >= 400))
    .map((e) => `${e.method} ${e.path} → ${e.status}`);
  expect(refused, 'requests the bridge refused or failed').toEqual([]);

  const recorded = await recordedSince(stage.h, since, interceptions);
  expect(recorded).toHaveLength(interceptions);
  for (const r of recorded) {
    expect(r.interception).toMatchObject({
      initiator_id: stage.h.userId,
      api_key_id: stage.h.apiKeyId,
      provider: 'openai',
      provider_name: 'openai',
      model: 'gpt-4.1',
      client: 'Codex',
      client_session_id: sessionId,
      user_agent: upgrade.headers['user-agent'],
      status: 'completed',
      metadata: expect.objectContaining({ transport: 'websocket' }),
    });
  }

  expect(upstreamSaw(stage.h.upstream.requests, stage.h.token), 'the upstream saw the bridge token').toBe(false);
  const models = stage.h.upstream.requests.filter((r) => r.path.startsWith('/v1/responses'));
  expect(models).toHaveLength(recorded.reduce((n, r) => n + r.tokens.length, 0));
  for (const r of models) {
    expect(r.method).toBe('POST');
    expect(r.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    expect(r.headers['session-id']).toBe(sessionId);
    expect(r.headers.originator).toBe(upgrade.headers.originator);
    expect(r.headers['user-agent']).toBe(upgrade.headers['user-agent']);
    expect(r.headers['openai-beta']).toBeUndefined();
    expect(Object.keys(r.headers).filter((h) => h.startsWith('sec-websocket-') || h === 'upgrade')).toEqual([]);
    expect(Object.keys(r.json).filter((k) => SOCKET_ONLY.includes(k))).toEqual([]);
    expect(r.json.stream).toBe(true);
  }
  return { recorded, models, sessionId };
}

describe.skipIf(!agents)(`Codex ${agents?.codex.version} (npm run test:agents)`, () => {
  it('answers through the bridge and is recorded as Codex', async () => {
    const since = new Date();
    const prompt = 'Say hello to the bridge';
    const run = await codex(prompt);
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(TEXT.text);
    expect(
      stage.tap.exchanges.filter((e) => e.upgrade),
      'a provider block talks HTTP by default',
    ).toEqual([]);
    const { recorded } = await expectBridged(run, since);
    expect(recorded).toHaveLength(1);
    const [r] = recorded as [any];
    expect(r.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    expect(r.tokens.map(usageOf)).toEqual([TEXT.usage]);
    expect(r.tokens[0].provider_response_id).toBe(TEXT.response_id);
    expect(r.tools).toEqual([]);
  });

  it('runs the injected MCP tool inside one request; Codex only sees the final answer', async () => {
    stage.router.scenario = 'tool';
    const since = new Date();
    const before = stage.mcp.calls.get('echo') ?? 0;
    const prompt = 'Use the echo tool, then tell me what it said';
    const run = await codex(prompt);
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(AFTER.text);
    expect(run.stderr, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before + 1);

    // One request from the CLI; it went up twice (the tool call, then the follow-up with its result).
    const { calls, recorded } = await expectBridged(run, since);
    expect(calls).toHaveLength(1);
    expect(stage.h.upstream.requests).toHaveLength(2);
    expect(recorded).toHaveLength(1);
    const [r] = recorded as [any];
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool_call_id: CALL.tool_calls[0]!.id,
        tool: 'echo',
        server_url: stage.mcp.url,
        injected: true,
        invocation_error: null,
        provider_response_id: CALL.response_id,
      }),
    ]);
    expect(JSON.parse(r.tools[0].input)).toEqual(CALL.tool_calls[0]!.arguments);
    expect(r.tokens.map(usageOf)).toEqual([CALL.usage, AFTER.usage]);
    expect(r.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    const followUp = stage.h.upstream.requests[1];
    expect(followUp?.json?.input?.at(-1)).toMatchObject({
      type: 'function_call_output',
      call_id: CALL.tool_calls[0]!.id,
    });
  });

  it('with its defaults, talks over the WebSocket: gets and uses an injected tool, recorded like HTTP', async () => {
    stage.router.scenario = 'tool';
    const since = new Date();
    const before = stage.mcp.calls.get('echo') ?? 0;
    const asked = await socketRequests();
    const prompt = 'Use the echo tool, then tell me what it said';
    const run = await codex(prompt, { setup: 'defaults' });
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(AFTER.text);
    expect(run.stderr, 'Codex fell back or retried').not.toMatch(/Falling back|Reconnecting/);
    expect(run.stderr, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before + 1);

    // One turn: a warm-up the bridge answered itself, then the turn chained to it, which went up
    // twice (the tool call, then the follow-up with its result) as one interception.
    const { recorded, models } = await expectOverWebSocket(run, since, 1);
    const asks = await socketRequests();
    expect(asks.warmup - asked.warmup).toBe(1);
    expect(asks.chained - asked.chained).toBe(1);
    expect(asks.full - asked.full).toBe(0);
    expect(models).toHaveLength(2);
    const [r] = recorded as [any];
    expect(r.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool_call_id: CALL.tool_calls[0]!.id,
        tool: 'echo',
        server_url: stage.mcp.url,
        injected: true,
        invocation_error: null,
        provider_response_id: CALL.response_id,
      }),
    ]);
    expect(r.tokens.map(usageOf)).toEqual([CALL.usage, AFTER.usage]);
    expect(models[0]!.json.tools.filter((t: any) => t.name === 'bmcp_test_echo')).toHaveLength(1);
    // The chained turn reached the upstream in full: Codex's instructions, then the prompt.
    const input = models[0]!.json.input;
    expect(input[0]).toMatchObject({ role: 'developer' });
    expect(JSON.stringify(input.at(-1))).toContain(prompt);
  });

  it('a provider block that opts in to the WebSocket is served the same way', async () => {
    const since = new Date();
    const prompt = 'Say hello over the socket';
    const run = await codex(prompt, { setup: 'ws-block' });
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(TEXT.text);
    const { recorded } = await expectOverWebSocket(run, since, 1);
    expect(recorded[0]!.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    expect(recorded[0]!.tokens.map(usageOf)).toEqual([TEXT.usage]);
  });

  it('a second prompt in the same session goes over the same socket, each request carrying only what is new', async () => {
    stage.router.scenario = 'client-tool';
    const since = new Date();
    const asked = await socketRequests();
    const prompts = ['What does note.txt say?', 'Read note.txt once more, please'];
    const { cwd, env } = prepare('defaults', { 'note.txt': NOTE });
    // The interactive Codex and app-server read a stored key, not CODEX_API_KEY (README "Pointing clients at the bridge").
    const login = await codexLogin(agents.codex, env.CODEX_API_KEY!, { cwd, env, timeoutMs: RUN_TIMEOUT });
    expect(login.code, describeRun(login, [stage.h.token])).toBe(0);
    const { CODEX_API_KEY: _, ...sessionEnv } = env;
    const run = await codexSession(agents.codex, prompts, { cwd, env: sessionEnv, timeoutMs: RUN_TIMEOUT * 2 });
    traceTraffic('codex app-server (two turns)', stage.tap, stage.h.upstream.requests, stage.sink.attempts);
    expect(run.answers, describeRun(run, [stage.h.token])).toEqual([AFTER_EXEC.text, AFTER_EXEC.text]);

    // Each turn: its prompt (Codex runs exec_command on note.txt), then the command's output.
    const { recorded, models } = await expectOverWebSocket(run, since, 4);
    const asks = await socketRequests();
    expect({
      warmup: asks.warmup - asked.warmup,
      chained: asks.chained - asked.chained,
      full: asks.full - asked.full,
    }).toEqual({ warmup: 1, chained: 4, full: 0 });
    expect(recorded.map((r) => r.prompts.map((p: any) => p.prompt))).toEqual([[prompts[0]], [], [prompts[1]], []]);
    expect(recorded.map((r) => r.tools.map((t: any) => t.tool))).toEqual([['exec_command'], [], ['exec_command'], []]);

    // The bridge rebuilt every full input: each extends the one before by what the client got and what it added.
    expect(models).toHaveLength(4);
    for (let i = 1; i < models.length; i++) {
      const before = models[i - 1]!.json.input;
      const input = models[i]!.json.input;
      expect(input.slice(0, before.length), `request ${i + 1} continues request ${i}`).toEqual(before);
      expect(input.length).toBeGreaterThan(before.length);
    }
    const call = EXEC.tool_calls[0]!;
    const output = models[1]!.json.input.at(-1);
    expect(output).toMatchObject({ type: 'function_call_output', call_id: call.id });
    expect(JSON.stringify(output.output)).toContain(NOTE.trim());
    expect(models[1]!.json.input.at(-2)).toMatchObject({ type: 'function_call', call_id: call.id });
    expect(JSON.stringify(models[2]!.json.input.at(-1))).toContain(prompts[1]);
  });

  it('runs its own tool (exec_command): the call reaches it untouched and its output goes back up', async () => {
    stage.router.scenario = 'client-tool';
    const since = new Date();
    const before = stage.mcp.calls.get('echo') ?? 0;
    const prompt = 'What does note.txt say?';
    const run = await codex(prompt, { files: { 'note.txt': NOTE } });
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(AFTER_EXEC.text);
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before);

    const { calls, recorded } = await expectBridged(run, since);
    expect(calls).toHaveLength(2);
    const call = EXEC.tool_calls[0]!;
    const output = calls[1]!.body.input.at(-1);
    expect(output).toMatchObject({ type: 'function_call_output', call_id: call.id });
    expect(JSON.stringify(output.output)).toContain(NOTE.trim());
    expect(stage.h.upstream.requests[1]!.json.input.at(-1)).toEqual(output);

    expect(recorded).toHaveLength(2);
    const [first, second] = recorded as [any, any];
    expect(first.tools).toEqual([
      expect.objectContaining({
        tool_call_id: call.id,
        tool: 'exec_command',
        server_url: null,
        injected: false,
        invocation_error: null,
        provider_response_id: EXEC.response_id,
      }),
    ]);
    expect(JSON.parse(first.tools[0].input)).toEqual(call.arguments);
    // The next request carried what the command printed: recorded on the call, as Codex sent it.
    expect(first.tools[0]).toMatchObject({
      output: typeof output.output === 'string' ? output.output : expect.any(String),
      is_error: null,
      result_interception_id: second.interception._id,
    });
    expect(first.tools[0].output).toContain(NOTE.trim());
    expect(first.tools[0].result_at.getTime()).toBeGreaterThanOrEqual(second.interception.started_at.getTime());
    expect(first.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    expect(first.tokens.map(usageOf)).toEqual([EXEC.usage]);
    expect(second.tools).toEqual([]);
    expect(second.tokens.map(usageOf)).toEqual([AFTER_EXEC.usage]);
    expect(second.tokens[0].provider_response_id).toBe(AFTER_EXEC.response_id);
  });
});
