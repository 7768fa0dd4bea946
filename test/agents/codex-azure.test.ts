import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest, type UpstreamRequest } from '../helpers/upstream.ts';
import { pathWithNode } from './install.ts';
import { responsesFixture, type Scenario } from './router.ts';
import {
  type AgentRun,
  baseEnv,
  describeRun,
  type EgressSink,
  recordedSince,
  runAgent,
  startEgressSink,
  startTap,
  type Tap,
  traceTraffic,
  upstreamSaw,
  usageOf,
} from './support.ts';

/**
 * The real, unmodified Codex CLI with an Azure OpenAI provider block (README "Azure OpenAI and
 * OpenAI-compatible servers"), pointed at the bridge's `azure-openai` provider, offline: the
 * upstream checks what Azure checks (its own `api-key`, the `api-version` Codex puts on the
 * query) and answers from the recorded fixtures.
 */

const agents = inject('agents');
const facts = manifest();
const TEXT = facts['openai-responses/text.sse']!;
const CALL = facts['openai-responses/injected-tool.sse']!;
const AFTER = facts['openai-responses/after-tool.sse']!;
const RUN_TIMEOUT = 60_000;
const AZURE_KEY = 'azure-upstream-key-for-codex';
const DEPLOYMENT = 'gpt4o-prod';
const API_VERSION = '2025-04-01-preview';

let h: Harness;
let mcp: TestMcpServer;
let tap: Tap;
let sink: EgressSink;
let scenario: Scenario = 'text';
const unexpected: string[] = [];
const newHome = tempDirs('aibridge-codex-azure-');

/** Azure's answer to whatever it would not serve. */
function azureAnswer(request: UpstreamRequest): string {
  const url = new URL(request.path, 'http://azure.invalid');
  const known = request.headers['api-key'] === AZURE_KEY && !request.headers.authorization;
  if (known && request.method === 'POST' && url.pathname === '/openai/responses') {
    if (url.searchParams.get('api-version') === API_VERSION && request.json?.model === DEPLOYMENT) {
      return responsesFixture(request.json, scenario);
    }
  }
  if (known && request.method === 'GET' && /^\/openai\/(v1\/)?models/.test(url.pathname)) {
    return 'openai-passthrough/models.json';
  }
  unexpected.push(`${request.method} ${request.path}`);
  return 'agents/not-found-openai.json';
}

beforeAll(async () => {
  if (!agents) return;
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('agents-codex-azure', (url) => ({
    providers: [
      {
        name: 'azure',
        type: 'azure-openai',
        base_url: url,
        api_key: AZURE_KEY,
        deployments: [{ name: DEPLOYMENT, model: 'gpt-4o' }],
      },
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
  }));
  tap = await startTap(h.bridge.url);
  sink = await startEgressSink();
});

afterAll(async () => {
  await tap?.close();
  await sink?.close();
  await h?.close();
  await mcp?.stop();
});

beforeEach(() => {
  if (!agents) return;
  h.upstream.reset();
  h.upstream.setDefault(azureAnswer);
  tap.reset();
  sink.attempts.length = 0;
  unexpected.length = 0;
  scenario = 'text';
});

/** `$CODEX_HOME/config.toml` with Azure's provider block, its base URL the bridge's provider. */
function configToml(): string {
  return [
    `model = "${DEPLOYMENT}"`,
    'model_provider = "azure"',
    'check_for_update_on_startup = false',
    '',
    '[model_providers.azure]',
    'name = "Azure OpenAI via AI Bridge"',
    `base_url = "${tap.url}/azure/openai"`,
    'env_key = "AIBRIDGE_TOKEN"',
    `query_params = { api-version = "${API_VERSION}" }`,
    'wire_api = "responses"',
    'supports_websockets = false',
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

async function codex(prompt: string): Promise<AgentRun> {
  const home = newHome();
  const codexHome = join(home, '.codex');
  const cwd = join(home, 'project');
  mkdirSync(codexHome);
  mkdirSync(cwd);
  writeFileSync(join(codexHome, 'config.toml'), configToml());
  const env = baseEnv({
    HOME: home,
    CODEX_HOME: codexHome,
    AIBRIDGE_TOKEN: h.token,
    PATH: pathWithNode(),
    HTTPS_PROXY: sink.url,
    HTTP_PROXY: sink.url,
    NO_PROXY: '127.0.0.1,localhost',
  });
  const args = ['exec', '--skip-git-repo-check', '--color', 'never', prompt];
  const run = await runAgent(agents.codex, args, { cwd, env, timeoutMs: RUN_TIMEOUT });
  traceTraffic(`codex (azure) ${args.join(' ')}`, tap, h.upstream.requests, sink.attempts);
  return run;
}

/** What every run shows: Codex's calls on Azure's dated route, Azure's key upstream, recorded as Codex on azure. */
async function expectBridged(run: AgentRun, since: Date, upstreamCalls: number) {
  expect(run.code, describeRun(run, [h.token])).toBe(0);
  expect(unexpected, 'requests the fake Azure would not serve').toEqual([]);
  expect(sink.attempts, 'traffic to hosts other than the bridge').toEqual([]);
  const calls = tap.exchanges.filter((e) => e.method === 'POST');
  expect(calls.map((e) => [e.path, e.status])).toEqual([[`/azure/openai/responses?api-version=${API_VERSION}`, 200]]);
  expect(calls[0]!.credential).toBe('authorization');
  expect(calls[0]!.headers['user-agent']).toMatch(/^codex_(exec|cli_rs)\/\d+\.\d+\.\d+/);

  const models = h.upstream.requests.filter((r) => r.method === 'POST');
  expect(models.map((r) => r.path)).toEqual(
    Array.from({ length: upstreamCalls }, () => `/openai/responses?api-version=${API_VERSION}`),
  );
  for (const r of models) expect(r.headers['api-key']).toBe(AZURE_KEY);
  expect(upstreamSaw(h.upstream.requests, h.token), 'the upstream saw the bridge token').toBe(false);

  const recorded = await recordedSince(h, since, 1);
  expect(recorded).toHaveLength(1);
  const [r] = recorded as [any];
  expect(r.interception).toMatchObject({
    provider: 'azure-openai',
    provider_name: 'azure',
    model: DEPLOYMENT,
    client: 'Codex',
    client_session_id: calls[0]!.headers['session-id'],
    status: 'completed',
  });
  // Priced as the model the deployment runs.
  expect(r.interception.cost_usd).not.toBeNull();
  return r;
}

describe.skipIf(!agents)(`Codex ${agents?.codex.version} on an Azure OpenAI provider (npm run test:agents)`, () => {
  it('answers through the bridge, Azure called with its own key and api-version', async () => {
    const since = new Date();
    const run = await codex('Say hello to Azure through the bridge');
    expect(run.stdout.trim(), describeRun(run, [h.token])).toBe(TEXT.text);
    const r = await expectBridged(run, since, 1);
    expect(r.tokens.map(usageOf)).toEqual([TEXT.usage]);
    expect(r.tools).toEqual([]);
  });

  it('runs the injected MCP tool between two Azure calls; Codex only sees the final answer', async () => {
    scenario = 'tool';
    const since = new Date();
    const before = mcp.calls.get('echo') ?? 0;
    const run = await codex('Use the echo tool, then tell me what it said');
    expect(run.stdout.trim(), describeRun(run, [h.token])).toBe(AFTER.text);
    expect(run.stderr, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(mcp.calls.get('echo') ?? 0).toBe(before + 1);
    const r = await expectBridged(run, since, 2);
    expect(r.tools).toEqual([
      expect.objectContaining({ tool_call_id: CALL.tool_calls[0]!.id, tool: 'echo', injected: true }),
    ]);
    expect(r.tokens.map(usageOf)).toEqual([CALL.usage, AFTER.usage]);
  });
});
