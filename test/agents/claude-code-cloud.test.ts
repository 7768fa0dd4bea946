import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { ProviderConfig } from '../../src/providers/kind.ts';
import { bedrockKind } from '../../src/providers/kinds/bedrock/index.ts';
import { vertexKind } from '../../src/providers/kinds/vertex/index.ts';
import { FakeBedrock, TEST_AWS_KEY } from '../helpers/fake-bedrock.ts';
import { FakeVertex, type TestServiceAccount, writeServiceAccount } from '../helpers/fake-vertex.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { manifest } from '../helpers/upstream.ts';
import { anthropicFixture, type Scenario } from './router.ts';
import {
  type AgentRun,
  baseEnv,
  describeRun,
  type EgressSink,
  type Exchange,
  recordedSince,
  runAgent,
  startEgressSink,
  startTap,
  type Tap,
  usageOf,
} from './support.ts';

/**
 * The real, unmodified Claude Code CLI in Bedrock mode and in Vertex mode (README "Pointing
 * clients at the bridge"), set up with the very lines the bridge prints on its first start, through
 * the bridge to fakes that check every upstream call's SigV4 signature or Google token, offline.
 */

const agents = inject('agents');
const facts = manifest();
const CALL = facts['anthropic-messages/injected-tool.sse']!;
const AFTER = facts['anthropic-messages/after-tool.sse']!;
const RUN_TIMEOUT = 90_000;
const REGION = 'us-east-1';
const PROJECT = 'test-project';
const BEDROCK_MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const VERTEX_MODEL = 'claude-sonnet-4-5@20250929';

const BEDROCK: ProviderConfig = {
  name: 'bedrock',
  type: 'bedrock',
  region: REGION,
  access_key_id: TEST_AWS_KEY.accessKeyId,
  secret_access_key: TEST_AWS_KEY.secretAccessKey,
};
const VERTEX: ProviderConfig = { name: 'vertex', type: 'vertex', project: PROJECT, region: 'us-east5' };

let h: Harness;
let mcp: TestMcpServer;
let bedrock: FakeBedrock;
let vertex: FakeVertex;
let account: TestServiceAccount;
let tap: Tap;
let sink: EgressSink;
let scenario: Scenario = 'text';
const homes: string[] = [];

beforeAll(async () => {
  if (!agents) return;
  mcp = await startTestMcpServer({ extraTools: 0 });
  bedrock = await FakeBedrock.start({ region: REGION });
  vertex = await FakeVertex.start({ project: PROJECT });
  const dir = mkdtempSync(join(tmpdir(), 'aibridge-cloud-'));
  homes.push(dir);
  account = writeServiceAccount(dir, vertex.tokenUri, { project: PROJECT });
  vertex.trust(account);
  bedrock.setDefault((r) => anthropicFixture(r.json, scenario, r.operation === 'invoke-with-response-stream'));
  vertex.setDefault((r) => anthropicFixture(r.json, scenario, r.specifier === 'streamRawPredict'));
  h = await startHarness('agents-claude-code-cloud', {
    providers: [
      { ...BEDROCK, base_url: bedrock.url },
      { ...VERTEX, base_url: vertex.url, credentials_file: account.file },
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
  });
  tap = await startTap(h.bridge.url);
  sink = await startEgressSink();
});

afterAll(async () => {
  await tap?.close();
  await sink?.close();
  await h?.close();
  await bedrock?.close();
  await vertex?.close();
  await mcp?.stop();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  if (!agents) return;
  scenario = 'text';
  bedrock.reset();
  vertex.reset();
  tap.reset();
  sink.attempts.length = 0;
});

/** The `export NAME=value` lines the bridge prints for a provider, as an environment. */
function bannerEnv(lines: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines) {
    const m = /^\s+export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Runs `claude -p PROMPT` in a fresh HOME, with only the banner's environment (and the model) to find the bridge. */
async function claude(prompt: string, mode: Record<string, string>): Promise<AgentRun> {
  const home = mkdtempSync(join(tmpdir(), 'aibridge-claude-'));
  homes.push(home);
  const cwd = join(home, 'project');
  mkdirSync(cwd);
  const env = baseEnv({
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ...mode,
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    HTTPS_PROXY: sink.url,
    HTTP_PROXY: sink.url,
    NO_PROXY: '127.0.0.1,localhost',
  });
  const args = ['-p', prompt, '--output-format', 'stream-json', '--verbose'];
  const run = await runAgent(agents.claude, args, { cwd, env, timeoutMs: RUN_TIMEOUT });
  if (process.env.AIBRIDGE_AGENTS_TRACE === '1') {
    for (const e of tap.exchanges) console.log(`[agents] ${e.method} ${e.path} → ${e.status} (${e.credential})`);
  }
  return run;
}

/** The CLI's final `result` message. */
function resultOf(run: AgentRun): any {
  for (const line of run.stdout.trim().split('\n').reverse()) {
    try {
      const message = JSON.parse(line);
      if (message?.type === 'result') return message;
    } catch {}
  }
  return undefined;
}

/**
 * What both modes must show: the CLI got the injected tool's answer without seeing the call, every
 * request it sent was answered, and each model call is one interception with its session id.
 */
async function expectToolRun(run: AgentRun, since: Date, isModelCall: (e: Exchange) => boolean, provider: string) {
  const why = describeRun(run, [h.token]);
  expect(run.code, why).toBe(0);
  expect(resultOf(run)?.result, why).toContain(AFTER.text);
  expect(run.stdout, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
  expect(sink.attempts, 'traffic to hosts other than the bridge').toEqual([]);
  const failed = tap.exchanges
    .filter((e) => e.status === 0 || e.status >= 400)
    .map((e) => `${e.method} ${e.path} → ${e.status}`);
  expect(failed, 'requests the bridge refused or failed').toEqual([]);

  const calls = tap.exchanges.filter(isModelCall);
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    expect(call.credential, `${call.method} ${call.path}`).toBe('authorization');
    expect(call.headers['user-agent']).toMatch(/^claude-cli\/\d+\.\d+\.\d+ /);
    expect(call.headers['x-claude-code-session-id']).toMatch(/^[0-9a-f-]{36}$/);
  }
  const sessionId = calls[0]!.headers['x-claude-code-session-id'];
  expect(resultOf(run)?.session_id).toBe(sessionId);

  const recorded = await recordedSince(h, since, calls.length);
  expect(recorded).toHaveLength(calls.length);
  for (const r of recorded) {
    expect(r.interception).toMatchObject({
      initiator_id: h.userId,
      provider,
      provider_name: provider,
      client: 'Claude Code',
      client_session_id: sessionId,
      status: 'completed',
    });
  }
  const main = recorded.find((r) => r.tools.length > 0);
  expect(main, 'no interception recorded the injected tool call').toBeDefined();
  expect(main!.tools).toEqual([
    expect.objectContaining({ tool: 'echo', injected: true, server_url: mcp.url, invocation_error: null }),
  ]);
  expect(main!.tokens.map(usageOf)).toEqual([CALL.usage, AFTER.usage]);
  expect(main!.interception.cost_usd).toBeGreaterThan(0);
  return { calls, main, sessionId };
}

describe.skipIf(!agents)(`Claude Code ${agents?.claude.version} in its cloud modes (npm run test:agents)`, () => {
  it('Bedrock mode: lists inference profiles unauthenticated, then gets and uses the injected tool', async () => {
    scenario = 'tool';
    const since = new Date();
    const before = mcp.calls.get('echo') ?? 0;
    const mode = {
      ...bannerEnv(bedrockKind.clientSetup(tap.url, BEDROCK, h.token)),
      ANTHROPIC_MODEL: BEDROCK_MODEL,
    };
    expect(mode).toMatchObject({
      CLAUDE_CODE_USE_BEDROCK: '1',
      ANTHROPIC_BEDROCK_BASE_URL: `${tap.url}/bedrock`,
      CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1',
      AWS_BEARER_TOKEN_BEDROCK: h.token,
    });
    const run = await claude('Use the echo tool, then tell me what it said', mode);
    const isModelCall = (e: Exchange) =>
      e.method === 'POST' && /^\/bedrock\/model\/[^/]+\/invoke(-with-response-stream)?$/.test(e.path);
    const { calls } = await expectToolRun(run, since, isModelCall, 'bedrock');
    expect(mcp.calls.get('echo') ?? 0).toBe(before + 1);

    // Its first request: Bedrock's control-plane list, without credentials, answered without asking anyone.
    const probes = tap.exchanges.filter((e) => e.path.startsWith('/bedrock/inference-profiles'));
    expect(probes.length).toBeGreaterThan(0);
    expect(tap.exchanges[0]).toBe(probes[0]);
    for (const probe of probes) expect([probe.credential, probe.status]).toEqual([null, 200]);
    expect(bedrock.requests.filter((r) => r.operation === 'list-inference-profiles')).toEqual([]);
    expect(calls.some((c) => c.path.endsWith('/invoke-with-response-stream'))).toBe(true);
    // Every upstream call was signed by the configured key over its own body; the bridge token never left.
    expect(bedrock.requests.length).toBeGreaterThan(calls.length);
    for (const r of bedrock.requests) {
      expect(r.refused, `${r.method} ${r.path}`).toBeUndefined();
      expect(r.accessKeyId).toBe(TEST_AWS_KEY.accessKeyId);
      expect(JSON.stringify(r.headers) + r.body).not.toContain(h.token);
    }
  });

  it('Vertex mode: gets and uses the injected tool', async () => {
    scenario = 'tool';
    const since = new Date();
    const before = mcp.calls.get('echo') ?? 0;
    const mode = {
      ...bannerEnv(vertexKind.clientSetup(tap.url, VERTEX, h.token)),
      ANTHROPIC_MODEL: VERTEX_MODEL,
    };
    expect(mode).toMatchObject({
      CLAUDE_CODE_USE_VERTEX: '1',
      ANTHROPIC_VERTEX_BASE_URL: `${tap.url}/vertex/v1`,
      CLAUDE_CODE_SKIP_VERTEX_AUTH: '1',
      ANTHROPIC_VERTEX_PROJECT_ID: PROJECT,
      CLOUD_ML_REGION: 'us-east5',
      ANTHROPIC_AUTH_TOKEN: h.token,
    });
    const run = await claude('Use the echo tool, then tell me what it said', mode);
    const isModelCall = (e: Exchange) =>
      e.method === 'POST' &&
      /^\/vertex\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/anthropic\/models\/[^/]+:(rawPredict|streamRawPredict)$/.test(
        e.path,
      ) &&
      !e.path.includes('/count-tokens:');
    const { calls } = await expectToolRun(run, since, isModelCall, 'vertex');
    expect(mcp.calls.get('echo') ?? 0).toBe(before + 1);
    expect(calls.some((c) => c.path.endsWith(':streamRawPredict'))).toBe(true);
    expect(vertex.requests.length).toBeGreaterThan(calls.length);
    for (const r of vertex.requests) {
      expect(r.refused, `${r.method} ${r.path}`).toBeUndefined();
      expect(r).toMatchObject({ project: PROJECT, location: 'us-east5', email: account.email });
      expect(JSON.stringify(r.headers) + r.body).not.toContain(h.token);
    }
  });
});
