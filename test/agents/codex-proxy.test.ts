import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { manifest } from '../helpers/upstream.ts';
import { pathWithNode } from './install.ts';
import { agentStage } from './stage.ts';
import { baseEnv, describeRun, recordedSince, runAgent, traceTraffic, upstreamSaw } from './support.ts';

/**
 * The real, unmodified Codex CLI on its built-in `openai` provider — no base URL, no provider
 * block — through the bridge's intercepting proxy (README "Clients that cannot set a base URL"):
 * HTTPS_PROXY with the bridge token as the password, CODEX_CA_CERTIFICATE = the bridge's CA,
 * api.openai.com mapped to the `openai` provider. Every other host (Codex also asks chatgpt.com
 * for its model list) is refused by `tunnel: deny`.
 */

const agents = inject('agents');
const facts = manifest();
const AFTER = facts['openai-responses/after-tool.sse']!;
/** What Codex sends as its own key: it needs one to start, and it must go nowhere. */
const DUMMY_KEY = 'sk-proj-placeholder-for-the-proxy-0000';

const stage = agentStage('agents-codex-proxy', {
  proxy: { listen: '127.0.0.1:0', hosts: { 'api.openai.com': 'openai' }, tunnel: 'deny' },
});

/** Codex's own services that need no bridge (update checks, analytics, feedback, plugins) off. */
const CONFIG = [
  'model = "gpt-4.1"',
  'check_for_update_on_startup = false',
  '[analytics]',
  'enabled = false',
  '[feedback]',
  'enabled = false',
  '[features]',
  'plugins = false',
  '',
].join('\n');

describe.skipIf(!agents)(`Codex ${agents?.codex.version} through the intercepting proxy`, () => {
  it('uses an injected MCP tool on its built-in provider; the interception is recorded via: proxy', async () => {
    stage.router.scenario = 'tool';
    const home = stage.home('aibridge-codex-proxy-');
    const codexHome = join(home, '.codex');
    const cwd = join(home, 'project');
    mkdirSync(codexHome);
    mkdirSync(cwd);
    writeFileSync(join(codexHome, 'config.toml'), CONFIG);
    const caFile = join(home, 'aibridge-ca.pem');
    writeFileSync(caFile, stage.h.bridge.proxy!.leaves.ca.certificatePem);
    const proxy = new URL(stage.h.bridge.proxy!.url);
    proxy.username = 'dev';
    proxy.password = stage.h.token;
    const env = baseEnv({
      HOME: home,
      CODEX_HOME: codexHome,
      CODEX_API_KEY: DUMMY_KEY,
      PATH: pathWithNode(),
      HTTPS_PROXY: proxy.href,
      CODEX_CA_CERTIFICATE: caFile,
    });
    const before = stage.mcp.calls.get('echo') ?? 0;
    const since = new Date();
    const prompt = 'Use the echo tool, then tell me what it said';
    const run = await runAgent(agents.codex, ['exec', '--skip-git-repo-check', '--color', 'never', prompt], {
      cwd,
      env,
      timeoutMs: 60_000,
    });
    traceTraffic('codex through the proxy', stage.tap, stage.h.upstream.requests);
    expect(run.stdout.trim(), describeRun(run, [stage.h.token, DUMMY_KEY])).toBe(AFTER.text);
    expect(run.stderr, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before + 1);
    expect(stage.router.unexpected).toEqual([]);

    const models = stage.h.upstream.requests.filter((r) => r.path.startsWith('/v1/responses'));
    expect(models).toHaveLength(2); // the tool call, then the follow-up with its result
    const sessionId = models[0]!.headers['session-id'];
    expect(sessionId).toBeTruthy();
    for (const r of models) {
      expect(r.headers.authorization).toBe('Bearer sk-upstream-openai-key');
      expect(r.headers['user-agent']).toMatch(/^codex_(exec|cli_rs)\//);
    }
    for (const secret of [stage.h.token, DUMMY_KEY]) {
      expect(upstreamSaw(stage.h.upstream.requests, secret), 'the upstream saw a client credential').toBe(false);
      expect(stage.h.bridge.logs.text, 'a log line holds a client credential').not.toContain(secret);
    }

    const [r] = await recordedSince(stage.h, since, 1);
    expect(r?.interception).toMatchObject({
      initiator_id: stage.h.userId,
      provider_name: 'openai',
      client: 'Codex',
      client_session_id: sessionId,
      status: 'completed',
      metadata: expect.objectContaining({ via: 'proxy', proxy_host: 'api.openai.com' }),
    });
    expect(r?.tools).toEqual([expect.objectContaining({ tool: 'echo', injected: true, invocation_error: null })]);
    expect(r?.prompts.map((p) => p.prompt)).toEqual([prompt]);
  });
});
