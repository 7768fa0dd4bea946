import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardQueries, loadDashboard, metricNames } from '../helpers/dashboard.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { parsePrometheus, type Scrape } from '../helpers/prometheus.ts';
import { manifest } from '../helpers/upstream.ts';

const facts = manifest();
const usage = (fixture: string) => facts[fixture]!.usage!;

let h: Harness;
let mcp: TestMcpServer;
let scrape: Scrape;
let text: string;
let contentType: string | null;

const ASK = {
  model: 'claude-test-1',
  max_tokens: 512,
  messages: [{ role: 'user' as const, content: 'Echo something, then check the weather' }],
  tools: [{ name: 'get_weather', description: 'w', input_schema: { type: 'object' as const } }],
};

/** A known sequence of requests; the assertions below are the counts it must leave behind. */
beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('metrics', {
    // slow (1.5 s) outlives the call timeout, so its invocation is an error.
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^(echo|slow)$', call_timeout: '300ms' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
  });
  // 1. Claude Code, blocking: an injected echo call, then a client tool call.
  h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/client-tool.json');
  await h.anthropic.messages.create(ASK, { headers: { 'user-agent': 'claude-cli/2.1.3 (external, cli)' } });
  await h.records();
  // 2. SDK (client Unknown), streaming: the injected slow call times out.
  h.upstream.enqueue('anthropic-messages/injected-slow-tool.sse', 'anthropic-messages/after-tool.sse');
  await h.anthropic.messages.stream(ASK).finalMessage();
  await h.records();
  // 3. OpenAI chat, blocking, with cached tokens.
  h.upstream.enqueue('openai-chat/cached.json');
  await h.openai.chat.completions.create({ model: 'gpt-test-1', messages: [{ role: 'user', content: 'again?' }] });
  await h.records();
  // 4. An upstream 500: a failed interception.
  h.upstream.enqueue('anthropic-messages/http-500.json');
  await expect(h.anthropic.messages.create(ASK)).rejects.toThrow();
  await h.records();
  // 5. Two passthrough requests.
  h.upstream.enqueue('anthropic-passthrough/models.json', 'openai-passthrough/model.json');
  await h.anthropic.models.list();
  await h.openai.models.retrieve('gpt-test-1');

  const res = await fetch(`${h.bridge.url}/metrics`);
  expect(res.status).toBe(200);
  contentType = res.headers.get('content-type');
  text = await res.text();
  scrape = parsePrometheus(text);
});
afterAll(async () => {
  await h.close();
  await mcp.stop();
});

describe('GET /metrics', () => {
  it('is Prometheus text, without tokens or provider keys', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).not.toContain(h.token);
    expect(text).not.toContain('sk-upstream-openai-key');
    expect(text).not.toContain('sk-ant-upstream-key');
  });

  it('counts interceptions by provider, model, status, route, method, user and client', () => {
    const base = { route: '/v1/messages', method: 'POST', initiator_id: h.userId };
    const count = (labels: Record<string, string>) => scrape.value('aibridge_interceptions_total', labels);
    expect(
      count({ ...base, provider: 'anthropic', model: 'claude-test-1', status: 'completed', client: 'Claude Code' }),
    ).toBe(1);
    expect(
      count({ ...base, provider: 'anthropic', model: 'claude-test-1', status: 'completed', client: 'Unknown' }),
    ).toBe(1);
    expect(count({ ...base, provider: 'anthropic', model: 'claude-test-1', status: 'failed', client: 'Unknown' })).toBe(
      1,
    );
    expect(
      count({
        provider: 'openai',
        model: 'gpt-test-1',
        status: 'completed',
        route: '/v1/chat/completions',
        method: 'POST',
      }),
    ).toBe(1);
    expect(count({})).toBe(4);
    expect(scrape.value('aibridge_interceptions_inflight')).toBe(0);
    expect(
      scrape.value('aibridge_interceptions_duration_seconds_count', { provider: 'anthropic', model: 'claude-test-1' }),
    ).toBe(3);
    expect(scrape.value('aibridge_interceptions_duration_seconds_count', { provider: 'openai' })).toBe(1);
    expect(scrape.value('aibridge_upstream_ttfb_seconds_count', { provider: 'anthropic' })).toBe(5);
    expect(scrape.value('aibridge_upstream_ttfb_seconds_count', { provider: 'openai' })).toBe(1);
  });

  it('sums prompts and tokens by type, user and client', () => {
    const user = { initiator_id: h.userId };
    expect(scrape.value('aibridge_prompts_total', { ...user, provider: 'anthropic', client: 'Claude Code' })).toBe(1);
    expect(scrape.value('aibridge_prompts_total', { ...user, provider: 'anthropic', client: 'Unknown' })).toBe(2);
    expect(scrape.value('aibridge_prompts_total', { ...user, provider: 'openai' })).toBe(1);

    const tokens = (labels: Record<string, string>) => scrape.value('aibridge_tokens_total', { ...user, ...labels });
    const cc = { provider: 'anthropic', model: 'claude-test-1', client: 'Claude Code' };
    const [a1, a2] = [usage('anthropic-messages/injected-tool.json'), usage('anthropic-messages/client-tool.json')];
    expect(tokens({ ...cc, type: 'input' })).toBe(a1.input_tokens + a2.input_tokens);
    expect(tokens({ ...cc, type: 'output' })).toBe(a1.output_tokens + a2.output_tokens);
    const sdk = { provider: 'anthropic', client: 'Unknown' };
    const [s1, s2] = [usage('anthropic-messages/injected-slow-tool.sse'), usage('anthropic-messages/after-tool.sse')];
    expect(tokens({ ...sdk, type: 'input' })).toBe(s1.input_tokens + s2.input_tokens);
    expect(tokens({ ...sdk, type: 'output' })).toBe(s1.output_tokens + s2.output_tokens);
    const o = usage('openai-chat/cached.json');
    expect(tokens({ provider: 'openai', model: 'gpt-test-1', type: 'input' })).toBe(o.input_tokens);
    expect(tokens({ provider: 'openai', type: 'output' })).toBe(o.output_tokens);
    expect(tokens({ provider: 'openai', type: 'cache_read' })).toBe(o.cache_read_input_tokens);
    expect(tokens({ type: 'cache_write' })).toBe(0);
    expect(scrape.value('aibridge_user_info', { initiator_id: h.userId, username: 'dev' })).toBe(1);
  });

  it('counts injected tool invocations with status, and client tool selections', () => {
    const tool = { provider: 'anthropic', model: 'claude-test-1', server: 'test' };
    expect(scrape.value('aibridge_injected_tool_invocations_total', { ...tool, name: 'echo', status: 'ok' })).toBe(1);
    expect(scrape.value('aibridge_injected_tool_invocations_total', { ...tool, name: 'slow', status: 'error' })).toBe(
      1,
    );
    expect(scrape.value('aibridge_injected_tool_invocations_total')).toBe(2);
    expect(scrape.value('aibridge_injected_tool_duration_seconds_count', { server: 'test' })).toBe(2);
    expect(
      scrape.value('aibridge_non_injected_tool_selections_total', {
        provider: 'anthropic',
        model: 'claude-test-1',
        name: 'get_weather',
      }),
    ).toBe(1);
    expect(scrape.value('aibridge_mcp_server_tools', { server: 'test' })).toBe(2);
  });

  it('counts passthrough requests by route template, never the raw path', () => {
    expect(
      scrape.value('aibridge_passthrough_total', { provider: 'anthropic', route: '/v1/models', method: 'GET' }),
    ).toBe(1);
    expect(
      scrape.value('aibridge_passthrough_total', { provider: 'openai', route: '/v1/models/:id', method: 'GET' }),
    ).toBe(1);
    const routes = scrape.samples.flatMap((s) => (s.labels.route ? [s.labels.route] : []));
    expect(
      routes.every((r) => ['/v1/messages', '/v1/chat/completions', '/v1/models', '/v1/models/:id'].includes(r)),
    ).toBe(true);
  });

  it('shows the recorder backlog and process metrics', () => {
    expect(scrape.types.get('aibridge_recorder_pending_records')).toBe('gauge');
    expect(scrape.value('aibridge_recorder_written_records_total')).toBeGreaterThan(0);
    expect(scrape.value('aibridge_recorder_dropped_records_total')).toBe(0);
    expect(scrape.value('aibridge_recorder_journaled_records_total')).toBeGreaterThan(0);
    expect(scrape.value('aibridge_recorder_dead_letters_total')).toBe(0);
    expect(scrape.value('aibridge_recorder_journal_pending')).toBe(0);
    expect(scrape.types.has('process_cpu_user_seconds_total')).toBe(true);
    expect(scrape.types.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });

  it('has every metric the Grafana dashboard queries', () => {
    const used = metricNames(dashboardQueries(loadDashboard()));
    expect(used.size).toBeGreaterThan(10);
    const missing = [...used].filter((name) => !scrape.names().has(name));
    expect(missing).toEqual([]);
  });
});
