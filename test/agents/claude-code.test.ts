import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../helpers/process.ts';
import { manifest } from '../helpers/upstream.ts';
import { ANNOTATE_TOOL, agentFacts } from './router.ts';
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
 * The real, unmodified Claude Code CLI (`claude -p`) through the bridge, against the replaying
 * upstream, offline. A tap between the CLI and the bridge keeps every request it sent.
 */

/** Provided by test/agents/global-setup.ts; absent when a run without it (plain `npm test`) picks this file up. */
const agents = inject('agents');
const facts = manifest();
const RUN_TIMEOUT = 60_000;
const TEXT = facts['anthropic-messages/text.sse']!;
const CALL = facts['anthropic-messages/injected-tool.sse']!;
const AFTER = facts['anthropic-messages/after-tool.sse']!;
const READ = agentFacts()['agents/claude-code-read.sse']!;
const AFTER_READ = agentFacts()['agents/claude-code-after-read.sse']!;
const ANNOTATE = agentFacts()['agents/claude-code-annotate.sse']!;
const AFTER_ANNOTATE = agentFacts()['agents/claude-code-after-annotate.sse']!;
const NOTE = 'the note says 42\n';

// Traced: the GenAI conventions are checked on a real Claude Code session's spans.
const stage = agentStage('agents-claude-code', {}, { traces: true });
const { home: newHome } = stage;

interface ClaudeOptions {
  /** Where the bridge token goes: `ANTHROPIC_AUTH_TOKEN` (Bearer) or `ANTHROPIC_API_KEY` (x-api-key). */
  credential: 'ANTHROPIC_AUTH_TOKEN' | 'ANTHROPIC_API_KEY';
  /**
   * `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` and every other host behind a refusing proxy.
   * Claude Code skips its HEAD preconnect whenever either is set, so the run that checks the
   * probe goes without both; with telemetry off its only other request is then a credential-less
   * `GET https://api.anthropic.com/api/directory/server-urls`, which fails here (no network) and
   * does not affect the run.
   */
  essentialOnly: boolean;
  format: 'json' | 'stream-json';
  /** Files to put in the project directory first. */
  files?: Record<string, string>;
  /** `claude` commands run first in the same HOME and project (e.g. `mcp add`). */
  setup?: string[][];
  /** More arguments for the `-p` run. */
  args?: string[];
  /** More environment for every run. */
  env?: Record<string, string>;
}

/** Runs `claude -p PROMPT` in a fresh HOME and project directory. */
async function claude(prompt: string, options: ClaudeOptions): Promise<AgentRun> {
  const home = newHome('aibridge-claude-');
  const cwd = join(home, 'project');
  mkdirSync(cwd);
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(cwd, name), text);
  const env = baseEnv({
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: `${stage.tap.url}/anthropic`,
    [options.credential]: stage.h.token,
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    ...options.env,
    ...(options.essentialOnly
      ? {
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          HTTPS_PROXY: stage.sink.url,
          HTTP_PROXY: stage.sink.url,
          NO_PROXY: '127.0.0.1,localhost',
        }
      : {}),
  });
  for (const setup of options.setup ?? []) {
    const done = await runAgent(agents.claude, setup, { cwd, env, timeoutMs: RUN_TIMEOUT });
    if (done.code !== 0)
      throw new Error(`claude ${setup[0]} ${setup[1]} failed: ${describeRun(done, [stage.h.token])}`);
  }
  const args = ['-p', prompt, '--output-format', options.format, ...(options.args ?? [])];
  if (options.format === 'stream-json') args.push('--verbose');
  const run = await runAgent(agents.claude, args, { cwd, env, timeoutMs: RUN_TIMEOUT });
  traceTraffic(
    `claude ${args.join(' ')} (${options.credential})`,
    stage.tap,
    stage.h.upstream.requests,
    stage.sink.attempts,
  );
  return run;
}

/** The CLI's final `result` message (json: the whole stdout; stream-json: the last line of type result). */
function resultOf(run: AgentRun): any {
  const lines = run.stdout.trim().split('\n').filter(Boolean);
  const parsed = lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return undefined;
    }
  });
  return parsed.reverse().find((m) => m?.type === 'result');
}

const isMessages = (e: Exchange) => e.method === 'POST' && /^\/anthropic\/v1\/messages(\?|$)/.test(e.path);
/** Requests to the bridge's own MCP server: checked by the test that adds it. */
const isMcp = (e: Exchange) => e.path === '/mcp' || e.path.startsWith('/mcp?');

/** What every run must show, whatever the credential: returns the model calls the CLI made. */
async function expectBridged(run: AgentRun, since: Date, credential: Exchange['credential']) {
  const why = () => describeRun(run, [stage.h.token]);
  expect(run.code, why()).toBe(0);
  expect(stage.router.unexpected, 'requests the replaying upstream had no fixture for').toEqual([]);

  // Every request reached the bridge on a route it serves and was answered without error.
  const unanswered = stage.tap.exchanges
    .filter((e) => e.method !== 'HEAD' && !isMcp(e)) // the preconnect probe is checked on its own
    .filter((e) => e.status === 0 || e.status >= 400)
    .map((e) => `${e.method} ${e.path} → ${e.status}`);
  expect(unanswered, 'requests the bridge refused or failed').toEqual([]);
  for (const e of stage.tap.exchanges.filter((x) => x.method !== 'HEAD')) {
    expect(e.credential, `${e.method} ${e.path}`).toBe(credential);
  }

  const calls = stage.tap.exchanges.filter(isMessages);
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    expect(call.headers['user-agent']).toMatch(/^claude-cli\/\d+\.\d+\.\d+ /);
    expect(call.headers['anthropic-version']).toBeTruthy();
    expect(call.headers['x-claude-code-session-id']).toMatch(/^[0-9a-f-]{36}$/);
  }
  const sessionId = calls[0]!.headers['x-claude-code-session-id'];
  expect(resultOf(run)?.session_id).toBe(sessionId);

  // Every model call is one interception with the CLI's identity.
  const recorded = await recordedSince(stage.h, since, calls.length);
  expect(recorded).toHaveLength(calls.length);
  for (const [i, r] of recorded.entries()) {
    expect(r.interception).toMatchObject({
      initiator_id: stage.h.userId,
      api_key_id: stage.h.apiKeyId,
      provider: 'anthropic',
      provider_name: 'anthropic',
      client: 'Claude Code',
      client_session_id: sessionId,
      status: 'completed',
    });
    expect(r.interception.user_agent).toMatch(/^claude-cli\//);
    expect(calls.map((c) => c.body?.model)).toContain(r.interception.model);
    expect(r.tokens.length, `interception ${i}`).toBeGreaterThan(0);
  }

  // The upstream got the CLI's headers, the provider key, and never the bridge token.
  expect(upstreamSaw(stage.h.upstream.requests, stage.h.token), 'the upstream saw the bridge token').toBe(false);
  const models = stage.h.upstream.requests.filter((r) => r.path.startsWith('/v1/messages'));
  expect(models.length).toBeGreaterThanOrEqual(calls.length);
  for (const r of models) {
    expect(r.headers['x-api-key']).toBe('sk-ant-upstream-key');
    expect(r.headers.authorization).toBeUndefined();
    expect(r.headers['x-claude-code-session-id']).toBe(sessionId);
    expect(r.headers['user-agent']).toBe(calls[0]!.headers['user-agent']);
  }
  for (const call of calls) {
    const beta = call.headers['anthropic-beta'];
    if (beta) expect(models.map((r) => r.headers['anthropic-beta'])).toContain(beta);
  }

  // The first model call went up as sent, but for the injected tools (first, so the client's
  // cache breakpoints stay valid) and the tool choice that comes with them.
  const { tools: sentTools, tool_choice: _sentChoice, ...sent } = calls[0]!.body;
  const { tools: upTools, tool_choice: _upChoice, ...up } = models[0]!.json;
  expect(up).toEqual(sent);
  const names = (tools: any[]) => (tools ?? []).map((t: any) => t.name);
  expect(names(upTools)).toEqual(['bmcp_test_echo', ...names(sentTools)]);
  expect(upTools.slice(1)).toEqual(sentTools);
  return { calls, recorded, sessionId };
}

describe.skipIf(!agents)(`Claude Code ${agents?.claude.version} (npm run test:agents)`, () => {
  it('answers through the bridge with ANTHROPIC_AUTH_TOKEN, and its HEAD probe is answered', async () => {
    const since = new Date();
    const prompt = 'Say hello to the bridge';
    const run = await claude(prompt, { credential: 'ANTHROPIC_AUTH_TOKEN', essentialOnly: false, format: 'json' });
    const result = resultOf(run);
    expect(result?.result, describeRun(run, [stage.h.token])).toBe(TEXT.text);
    expect(result?.is_error).toBe(false);

    // Claude Code preconnects with `HEAD <base>/api/hello`, without credentials.
    const probes = stage.tap.exchanges.filter((e) => e.method === 'HEAD');
    for (const probe of probes) {
      expect.soft(probe.credential).toBeNull();
      expect.soft(probe.status, `HEAD ${probe.path} (answered without auth?)`).toBeLessThan(400);
    }

    const { calls, recorded } = await expectBridged(run, since, 'authorization');
    expect(calls.every((c) => c.headers['anthropic-beta'])).toBe(true);
    const main = recorded.find((r) => r.prompts.some((p) => p.prompt?.includes(prompt)));
    expect(main, 'no interception recorded the prompt').toBeDefined();
    expect(main!.prompts).toHaveLength(1);
    expect(main!.prompts[0].prompt).toBe(prompt);
    expect(main!.tokens.map(usageOf)).toEqual([TEXT.usage]);
    expect(main!.tokens[0].provider_response_id).toBe(TEXT.response_id);
    expect(main!.tools).toEqual([]);
  });

  it('answers through the bridge with ANTHROPIC_API_KEY and sends nothing elsewhere', async () => {
    const since = new Date();
    const prompt = 'Say hello again';
    const run = await claude(prompt, { credential: 'ANTHROPIC_API_KEY', essentialOnly: true, format: 'json' });
    expect(resultOf(run)?.result, describeRun(run, [stage.h.token])).toBe(TEXT.text);
    const { recorded } = await expectBridged(run, since, 'x-api-key');
    expect(stage.sink.attempts, 'traffic to hosts other than the bridge').toEqual([]);
    const main = recorded.find((r) => r.prompts.some((p) => p.prompt === prompt));
    expect(main, 'no interception recorded the prompt').toBeDefined();
    expect(main!.tokens.map(usageOf)).toEqual([TEXT.usage]);
  });

  it('runs the injected MCP tool inside one request; Claude Code only sees the final answer', async () => {
    stage.router.scenario = 'tool';
    const since = new Date();
    const before = stage.mcp.calls.get('echo') ?? 0;
    const prompt = 'Use the echo tool, then tell me what it said';
    const run = await claude(prompt, {
      credential: 'ANTHROPIC_AUTH_TOKEN',
      essentialOnly: true,
      format: 'stream-json',
    });
    const why = describeRun(run, [stage.h.token]);
    expect(resultOf(run)?.result, why).toContain(AFTER.text);
    expect(run.stdout, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before + 1);

    // One request from the CLI; it went up twice (the tool call, then the follow-up with its result).
    const { calls, recorded, sessionId } = await expectBridged(run, since, 'authorization');
    expect(calls).toHaveLength(1);
    expect(stage.h.upstream.requests).toHaveLength(2);
    const main = recorded.find((r) => r.tools.length > 0);
    expect(main, 'no interception recorded a tool call').toBeDefined();
    expect(main!.tools).toEqual([
      expect.objectContaining({
        tool_call_id: CALL.tool_calls[0]!.id,
        tool: 'echo',
        server_url: stage.mcp.url,
        injected: true,
        invocation_error: null,
        provider_response_id: CALL.response_id,
      }),
    ]);
    expect(JSON.parse(main!.tools[0].input)).toEqual(CALL.tool_calls[0]!.arguments);
    expect(main!.tokens.map(usageOf)).toEqual([CALL.usage, AFTER.usage]);
    expect(main!.prompts.map((p) => p.prompt)).toEqual([prompt]);
    const followUp = stage.h.upstream.requests.find((r) =>
      JSON.stringify(r.json?.messages ?? []).includes('tool_result'),
    );
    expect(followUp, 'no follow-up with the tool result').toBeDefined();
    expect(JSON.stringify(followUp!.json.messages)).toContain(CALL.tool_calls[0]!.id);
    expect(followUp!.headers['anthropic-beta']).toBeTruthy();

    // The session's spans carry the GenAI conventions, the session as the conversation.
    const spans = stage.spans!.getFinishedSpans();
    const root = spans.find((s) => s.name === 'Intercept' && s.attributes.interception_id === main!.interception._id);
    expect(root?.attributes['gen_ai.conversation.id']).toBe(sessionId);
    const tree = spans.filter((s) => s.spanContext().traceId === root!.spanContext().traceId);
    const upstream = tree.filter((s) => s.name === 'Intercept.ProcessRequest.Upstream');
    expect(upstream.map((s) => s.attributes)).toEqual(
      [CALL, AFTER].map((turn) =>
        expect.objectContaining({
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.request.model': main!.interception.model,
          'gen_ai.request.stream': true,
          'gen_ai.response.id': turn.response_id,
          'gen_ai.usage.output_tokens': turn.usage!.output_tokens,
          'gen_ai.conversation.id': sessionId,
        }),
      ),
    );
    const tool = tree.find((s) => s.name === 'Intercept.ProcessRequest.ToolCall');
    expect(tool?.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'echo',
      'gen_ai.tool.call.id': CALL.tool_calls[0]!.id,
      'gen_ai.tool.type': 'extension',
      'gen_ai.conversation.id': sessionId,
      'mcp.method.name': 'tools/call',
      'mcp.session.id': expect.any(String),
      'jsonrpc.request.id': expect.stringMatching(/^\d+$/),
    });
  });

  it('runs its own tool (Read): the call reaches it untouched and its result goes back up', async () => {
    stage.router.scenario = 'client-tool';
    const since = new Date();
    const before = stage.mcp.calls.get('echo') ?? 0;
    const prompt = 'What does note.txt say?';
    const run = await claude(prompt, {
      credential: 'ANTHROPIC_AUTH_TOKEN',
      essentialOnly: true,
      format: 'stream-json',
      files: { 'note.txt': NOTE },
    });
    expect(resultOf(run)?.result, describeRun(run, [stage.h.token])).toBe(AFTER_READ.text);
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before);

    // Two model calls from the CLI: the one answered with the Read call, and the one with its result.
    const { calls, recorded } = await expectBridged(run, since, 'authorization');
    expect(calls).toHaveLength(2);
    const call = READ.tool_calls[0]!;
    const lastUser = (body: any) => [...body.messages].reverse().find((m: any) => m.role === 'user');
    const result = lastUser(calls[1]!.body).content.find((b: any) => b.type === 'tool_result');
    expect(result?.tool_use_id).toBe(call.id);
    expect(JSON.stringify(result.content)).toContain(NOTE.trim());
    // ...and it went up as the client sent it.
    const upstreamResult = lastUser(stage.h.upstream.requests[1]!.json).content.find(
      (b: any) => b.type === 'tool_result',
    );
    expect(upstreamResult).toEqual(result);

    expect(recorded).toHaveLength(2);
    const [first, second] = recorded as [any, any];
    expect(first.tools).toEqual([
      expect.objectContaining({
        tool_call_id: call.id,
        tool: 'Read',
        server_url: null,
        injected: false,
        invocation_error: null,
        provider_response_id: READ.response_id,
      }),
    ]);
    expect(JSON.parse(first.tools[0].input)).toEqual(call.arguments);
    // The file as Read gave it back, recorded on the call with the request that carried it.
    expect(first.tools[0]).toMatchObject({
      is_error: false,
      result_interception_id: second.interception._id,
    });
    expect(first.tools[0].output).toContain(NOTE.trim());
    expect(first.tools[0].result_at.getTime()).toBeGreaterThanOrEqual(second.interception.started_at.getTime());
    expect(first.prompts.map((p: any) => p.prompt)).toEqual([prompt]);
    expect(first.tokens.map(usageOf)).toEqual([READ.usage]);
    expect(second.tools).toEqual([]);
    expect(second.tokens.map(usageOf)).toEqual([AFTER_READ.usage]);
    expect(second.tokens[0].provider_response_id).toBe(AFTER_READ.response_id);
  });

  it('calls annotate_work on the bridge’s /mcp (added with `claude mcp add`): the session is annotated and found by q', async () => {
    stage.router.scenario = 'annotate';
    const since = new Date();
    const prompt = 'Record what we are working on, then say so';
    const run = await claude(prompt, {
      credential: 'ANTHROPIC_AUTH_TOKEN',
      essentialOnly: true,
      format: 'stream-json',
      // As the README says to add it (through the tap, so its requests are seen too).
      setup: [
        [
          'mcp',
          'add',
          '--transport',
          'http',
          'aibridge',
          `${stage.tap.url}/mcp`,
          '--header',
          `Authorization: Bearer ${stage.h.token}`,
        ],
      ],
      args: ['--allowedTools', ANNOTATE_TOOL],
      // Offered to the model at once, not behind ToolSearch, so the scripted model can call it.
      env: { ENABLE_TOOL_SEARCH: 'false' },
    });
    expect(resultOf(run)?.result, describeRun(run, [stage.h.token])).toBe(AFTER_ANNOTATE.text);

    const { calls, recorded, sessionId } = await expectBridged(run, since, 'authorization');
    // The model was offered the bridge's tool as Claude Code names MCP tools, and its result went back up.
    const main = calls.find((c) => c.body.tools?.some((t: any) => t.name === ANNOTATE_TOOL));
    expect(main, 'no model call offered the MCP tool').toBeDefined();
    const call = ANNOTATE.tool_calls[0]!;
    const lastUser = (body: any) => [...body.messages].reverse().find((m: any) => m.role === 'user');
    const answered = calls.find((c) =>
      lastUser(c.body)?.content?.some?.((b: any) => b.type === 'tool_result' && b.tool_use_id === call.id),
    );
    expect(JSON.stringify(answered?.body)).toContain('Work context recorded for session');

    // Claude Code spoke MCP to /mcp with the token it was given: every POST answered.
    const mcp = stage.tap.exchanges.filter((e) => e.path === '/mcp');
    const posts = mcp.filter((e) => e.method === 'POST');
    expect(posts.map((e) => e.body?.method)).toEqual(
      expect.arrayContaining(['initialize', 'tools/list', 'tools/call']),
    );
    for (const e of posts) {
      expect(e.credential).toBe('authorization');
      // It asks first in MCP 2026-07-28's stateless way (server/discover); the bridge's server
      // speaks 2025-11-25, says so, and Claude Code goes on with initialize.
      if (e.body?.method === 'server/discover') expect(e.status).toBe(400);
      else expect(e.status, `POST /mcp ${e.body?.method}`).toBeLessThan(300);
    }
    for (const e of mcp.filter((x) => x.method !== 'POST')) expect(e.status, `${e.method} /mcp`).toBe(405);
    // It names the model's tool call it carries out: the annotation goes to that call's interception.
    expect(posts.find((e) => e.body?.method === 'tools/call')?.body.params).toMatchObject({
      name: 'annotate_work',
      arguments: call.arguments,
      _meta: { 'claudecode/toolUseId': call.id },
    });

    // On the session: every one of its interceptions shows the work context, and q finds them.
    let annotated: any[] = [];
    await waitUntil(async () => {
      await stage.h.bridge.ctx.recorder.flush();
      const res = await fetch(
        `${stage.h.bridge.url}/api/v2/aibridge/interceptions?q=${encodeURIComponent(`repo:${call.arguments.repo} session:${sessionId}`)}`,
        { headers: { authorization: `Bearer ${stage.h.token}` } },
      );
      annotated = (await res.json()).results;
      return annotated.length === recorded.length;
    }, 10_000).catch(() => {});
    expect(annotated.map((r) => r.id).sort()).toEqual(recorded.map((r) => r.interception._id).sort());
    for (const r of annotated) {
      expect(r.work).toMatchObject({
        repo: 'github.com/acme/app',
        branch: 'fix/login',
        issue_urls: call.arguments.issue_urls,
      });
    }
    const annotations = annotated.flatMap((r) => r.annotations);
    expect(annotations).toEqual([
      expect.objectContaining({
        client_session_id: sessionId,
        initiator_id: stage.h.userId,
        note: 'Fixing the login redirect',
      }),
    ]);
    const madeIn = recorded.find((r) => r.tools.some((t: any) => t.tool_call_id === call.id));
    expect(annotations[0].interception_id).toBe(madeIn?.interception._id);
  });
});
