import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { manifest } from '../helpers/upstream.ts';
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
 * The real, unmodified Codex CLI (`codex exec`) through the bridge, against the replaying
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
 * `$CODEX_HOME/config.toml`: the bridge as a Responses provider, and the features that call
 * OpenAI's or GitHub's own services (analytics, feedback, the plugin marketplace) off.
 */
function configToml(websockets: boolean): string {
  return [
    'model_provider = "aibridge"',
    'model = "gpt-4.1"',
    'check_for_update_on_startup = false',
    '',
    '[model_providers.aibridge]',
    'name = "AI Bridge"',
    `base_url = "${stage.tap.url}/openai/v1"`,
    'env_key = "AIBRIDGE_TOKEN"',
    'wire_api = "responses"',
    `supports_websockets = ${websockets}`,
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

/** Runs `codex exec PROMPT` with a fresh HOME and CODEX_HOME, every other host behind a refusing proxy. */
async function codex(
  prompt: string,
  options: { websockets?: boolean; files?: Record<string, string> } = {},
): Promise<AgentRun> {
  const home = newHome('aibridge-codex-');
  const codexHome = join(home, '.codex');
  const cwd = join(home, 'project');
  mkdirSync(codexHome);
  mkdirSync(cwd);
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(cwd, name), text);
  writeFileSync(join(codexHome, 'config.toml'), configToml(options.websockets ?? false));
  const env = baseEnv({
    HOME: home,
    CODEX_HOME: codexHome,
    AIBRIDGE_TOKEN: stage.h.token,
    PATH: pathWithNode(),
    HTTPS_PROXY: stage.sink.url,
    HTTP_PROXY: stage.sink.url,
    NO_PROXY: '127.0.0.1,localhost',
  });
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

describe.skipIf(!agents)(`Codex ${agents?.codex.version} (npm run test:agents)`, () => {
  it('answers through the bridge and is recorded as Codex', async () => {
    const since = new Date();
    const prompt = 'Say hello to the bridge';
    const run = await codex(prompt);
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(TEXT.text);
    expect(stage.tap.exchanges.filter((e) => e.upgrade)).toEqual([]);
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

  it('falls back to HTTP when the bridge refuses its WebSocket', async () => {
    const since = new Date();
    const prompt = 'Say hello over whatever transport works';
    const run = await codex(prompt, { websockets: true });
    expect(run.stdout.trim(), describeRun(run, [stage.h.token])).toBe(TEXT.text);
    const upgrades = stage.tap.exchanges.filter((e) => e.upgrade);
    expect(upgrades.length, 'Codex did not try a WebSocket').toBeGreaterThan(0);
    for (const u of upgrades) {
      expect(u.path).toBe('/openai/v1/responses');
      expect(u.headers.upgrade?.toLowerCase()).toBe('websocket');
      // Refused without switching protocols. (Codex retries a 404 five times, ~6 s, before it
      // falls back; a 426 Upgrade Required makes it fall back after one try.)
      expect(u.status).toBeGreaterThanOrEqual(400);
    }
    const { recorded } = await expectBridged(run, since);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
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
