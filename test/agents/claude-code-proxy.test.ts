import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { manifest } from '../helpers/upstream.ts';
import { agentStage } from './stage.ts';
import { baseEnv, describeRun, recordedSince, runAgent, traceTraffic, upstreamSaw } from './support.ts';

/**
 * The real, unmodified Claude Code CLI with no base URL change (README "Clients that cannot set
 * a base URL"): it talks to its default endpoint, api.anthropic.com, through the bridge's
 * intercepting proxy (HTTPS_PROXY with the bridge token as the password) and trusts the bridge's
 * CA (NODE_EXTRA_CA_CERTS). api.anthropic.com is mapped to the `anthropic` provider, whose
 * base_url is the replaying upstream; it does not resolve here, and need not: the proxy never
 * resolves a mapped host. Every other host is refused (`tunnel: deny`), so nothing leaves.
 */

const agents = inject('agents');
const facts = manifest();
const RUN_TIMEOUT = 60_000;
const AFTER = facts['anthropic-messages/after-tool.sse']!;
/** What Claude Code sends as its own key: it needs one to start, and it must go nowhere. */
const DUMMY_KEY = 'sk-ant-api03-placeholder-for-the-proxy-0000';

const stage = agentStage('agents-claude-code-proxy', {
  proxy: { listen: '127.0.0.1:0', hosts: { 'api.anthropic.com': 'anthropic' }, tunnel: 'deny' },
});

/** The proxy's series on /metrics, by name and labels as Prometheus prints them. */
async function proxySeries(): Promise<Map<string, number>> {
  const text = await (await fetch(`${stage.h.bridge.url}/metrics`)).text();
  const series = new Map<string, number>();
  for (const [, name, value] of text.matchAll(/^(aibridge_proxy_\S+) (\S+)$/gm)) series.set(name!, Number(value));
  return series;
}

describe.skipIf(!agents)(`Claude Code ${agents?.claude.version} through the intercepting proxy`, () => {
  it('uses an injected MCP tool with no base URL set; the interception is recorded with its session id and via: proxy', async () => {
    stage.router.scenario = 'tool';
    const home = stage.home('aibridge-claude-proxy-');
    const cwd = join(home, 'project');
    mkdirSync(cwd);
    // What `aibridge proxy ca` prints: the CA the bridge created under data_dir.
    const caFile = join(home, 'aibridge-ca.pem');
    writeFileSync(caFile, stage.h.bridge.proxy!.leaves.ca.certificatePem);
    const proxy = new URL(stage.h.bridge.proxy!.url);
    proxy.username = 'dev';
    proxy.password = stage.h.token;
    const env = baseEnv({
      HOME: home,
      CLAUDE_CONFIG_DIR: join(home, '.claude'),
      ANTHROPIC_API_KEY: DUMMY_KEY,
      HTTPS_PROXY: proxy.href,
      NODE_EXTRA_CA_CERTS: caFile,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    });
    const before = stage.mcp.calls.get('echo') ?? 0;
    const before407 = (await proxySeries()).get('aibridge_proxy_connect_sessions_total{result="unauthenticated"}');
    const since = new Date();
    const prompt = 'Use the echo tool, then tell me what it said';
    const run = await runAgent(agents.claude, ['-p', prompt, '--output-format', 'stream-json', '--verbose'], {
      cwd,
      env,
      timeoutMs: RUN_TIMEOUT,
    });
    traceTraffic('claude through the proxy', stage.tap, stage.h.upstream.requests);
    const why = describeRun(run, [stage.h.token, DUMMY_KEY]);
    expect(run.code, why).toBe(0);
    expect(stage.router.unexpected, 'requests the replaying upstream had no fixture for').toEqual([]);

    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return undefined;
        }
      });
    const result = lines.reverse().find((m) => m?.type === 'result');
    expect(result?.result, why).toContain(AFTER.text);
    expect(run.stdout, 'an injected tool call reached the client').not.toContain('bmcp_test_echo');
    expect(stage.mcp.calls.get('echo') ?? 0).toBe(before + 1);

    // The model calls reached the upstream from the bridge, with the provider's key and the CLI's session.
    const models = stage.h.upstream.requests.filter((r) => r.path.startsWith('/v1/messages'));
    expect(models.length).toBeGreaterThanOrEqual(2); // the tool call, then the follow-up with its result
    const sessionId = models[0]!.headers['x-claude-code-session-id'];
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result?.session_id).toBe(sessionId);
    for (const r of models) {
      expect(r.headers['x-api-key']).toBe('sk-ant-upstream-key');
      expect(r.headers['user-agent']).toMatch(/^claude-cli\//);
    }
    expect(models.find((r) => r.json?.tools?.some((t: any) => t.name === 'bmcp_test_echo'))).toBeDefined();
    for (const secret of [stage.h.token, DUMMY_KEY]) {
      expect(upstreamSaw(stage.h.upstream.requests, secret), 'the upstream saw a client credential').toBe(false);
      expect(stage.h.bridge.logs.text, 'a log line holds a client credential').not.toContain(secret);
    }

    const recorded = await recordedSince(stage.h, since, 1);
    expect(recorded.length).toBeGreaterThan(0);
    for (const r of recorded) {
      expect(r.interception).toMatchObject({
        initiator_id: stage.h.userId,
        api_key_id: stage.h.apiKeyId,
        provider_name: 'anthropic',
        client: 'Claude Code',
        client_session_id: sessionId,
        status: 'completed',
        metadata: expect.objectContaining({ via: 'proxy', proxy_host: 'api.anthropic.com' }),
      });
    }
    const main = recorded.find((r) => r.tools.length > 0);
    expect(main, 'no interception recorded the tool call').toBeDefined();
    expect(main!.tools).toEqual([
      expect.objectContaining({ tool: 'echo', server_url: stage.mcp.url, injected: true, invocation_error: null }),
    ]);
    expect(main!.prompts.map((p) => p.prompt)).toEqual([prompt]);

    // It trusted the CA (no failed handshake), authenticated every CONNECT, and went nowhere else.
    const series = await proxySeries();
    expect(series.get('aibridge_proxy_connect_sessions_total{result="intercepted"}')).toBeGreaterThan(0);
    expect(series.get('aibridge_proxy_connect_sessions_total{result="tls_failed"}')).toBe(0);
    expect(series.get('aibridge_proxy_connect_sessions_total{result="unauthenticated"}')).toBe(before407);
    expect(series.get('aibridge_proxy_connect_sessions_total{result="denied"}')).toBe(0);
    expect(series.get('aibridge_proxy_mitm_requests_total{host="api.anthropic.com"}')).toBeGreaterThanOrEqual(
      recorded.length,
    );
  });
});
