/**
 * The intercepting proxy wired into the real bridge (README "Clients that cannot set a base
 * URL"): the official SDKs keep their default base URLs and only go through the proxy, trusting
 * the bridge's CA; what they send is served by the bridge's own routes — authenticated as the
 * proxy user, tools injected, recorded with `via: proxy`, budgeted — and reaches the upstream
 * with the provider's key, never the client's own or the bridge token.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ProxyAgent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { askProxy, basic, connectRequest } from '../helpers/proxy.ts';
import { manifest } from '../helpers/upstream.ts';

const facts = manifest();
const PRICING = [{ model: 'claude-test-*', input: 3, output: 15 }];
/** What clients inside the tunnel send as their own provider keys: never to go anywhere. */
const ANTHROPIC_CLIENT_KEY = 'sk-ant-api03-the-clients-own-key-0000';
const OPENAI_CLIENT_KEY = 'sk-proj-the-clients-own-key-0000';

let h: Harness;
let mcp: TestMcpServer;
let proxyUrl: string;
let proxyPort: number;
let caPem: string;
const dispatchers: ProxyAgent[] = [];

beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('proxy-bridge', {
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    proxy: { listen: '127.0.0.1:0', hosts: { 'api.anthropic.com': 'anthropic', 'api.openai.com': 'openai' } },
    pricing: PRICING,
    // Members are not budgeted here; auditors get next to nothing, to see budgets hold through the proxy.
    budgets: { auditor: { usd: 0.000001, period: 'day' } },
  });
  proxyUrl = h.bridge.proxy!.url;
  proxyPort = h.bridge.proxy!.address.port;
  // What `aibridge proxy ca` prints: the CA the bridge created under data_dir on first use.
  caPem = readFileSync(join(h.bridge.ctx.config.data_dir, 'proxy', 'ca.crt'), 'utf8');
});

afterAll(async () => {
  await Promise.all(dispatchers.map((d) => d.close()));
  await h?.close();
  await mcp?.stop();
});

beforeEach(() => h.upstream.reset());

/** An undici dispatcher through the bridge's proxy, the token as the proxy password, trusting only the bridge's CA. */
function through(token: string, user = 'dev'): ProxyAgent {
  const dispatcher = new ProxyAgent({ uri: proxyUrl, token: basic(user, token), requestTls: { ca: caPem } });
  dispatchers.push(dispatcher);
  return dispatcher;
}

const anthropicVia = (dispatcher: ProxyAgent) =>
  new Anthropic({
    apiKey: ANTHROPIC_CLIENT_KEY,
    baseURL: 'https://api.anthropic.com', // the SDK's own default, set so no ANTHROPIC_BASE_URL can move it
    fetchOptions: { dispatcher },
    maxRetries: 0,
  });

const openaiVia = (dispatcher: ProxyAgent) =>
  new OpenAI({
    apiKey: OPENAI_CLIENT_KEY,
    baseURL: 'https://api.openai.com/v1',
    fetchOptions: { dispatcher },
    maxRetries: 0,
  });

/** What no upstream request (path, headers, body) and no log line may ever hold. */
function expectNothingLeaked(): void {
  const upstream = JSON.stringify(h.upstream.requests.map((r) => [r.path, r.headers, r.body]));
  for (const secret of [h.token, ANTHROPIC_CLIENT_KEY, OPENAI_CLIENT_KEY]) {
    expect(upstream, 'the upstream saw a client credential').not.toContain(secret);
    expect(h.bridge.logs.text, 'a log line holds a client credential').not.toContain(secret);
  }
}

const ASK = {
  model: 'claude-test-1',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Echo something' }],
};

describe('the Anthropic SDK through the proxy, with its default base URL', () => {
  it('blocking: the injected tool runs inside the bridge, the upstream gets the provider key, the record says via proxy', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const before = mcp.calls.get('echo') ?? 0;
    const message = await anthropicVia(through(h.token)).messages.create(ASK);
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toContain(
      facts['anthropic-messages/after-tool.json']!.text,
    );
    expect(mcp.calls.get('echo')).toBe(before + 1);

    const [first, second] = h.upstream.requests as [any, any];
    expect(h.upstream.requests).toHaveLength(2);
    expect(first.path).toBe('/v1/messages');
    expect(first.json.tools.map((t: any) => t.name)).toEqual(['bmcp_test_echo']);
    expect(JSON.stringify(second.json.messages)).toContain('tool_result');
    for (const r of h.upstream.requests) {
      expect(r.headers['x-api-key']).toBe('sk-ant-upstream-key');
      expect(r.headers['proxy-authorization']).toBeUndefined();
      expect(r.headers.host).not.toBe('api.anthropic.com');
    }

    const r = await h.records();
    expect(r.interception).toMatchObject({
      initiator_id: h.userId,
      api_key_id: h.apiKeyId,
      provider_name: 'anthropic',
      status: 'completed',
      metadata: expect.objectContaining({ via: 'proxy', proxy_host: 'api.anthropic.com' }),
    });
    expect(r.tools).toEqual([expect.objectContaining({ tool: 'echo', injected: true, invocation_error: null })]);
    expect(r.tokens).toHaveLength(2);
    expect(r.prompts.map((p) => p.prompt)).toEqual(['Echo something']);
    expectNothingLeaked();
  });

  it('streaming: the text streams back, the injected call stays hidden', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const stream = anthropicVia(through(h.token)).messages.stream(ASK);
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(text).toContain(facts['anthropic-messages/after-tool.sse']!.text);
    expect(JSON.stringify(final)).not.toContain('bmcp_');
    expect(h.upstream.requests).toHaveLength(2);
    const r = await h.records();
    expect(r.interception.metadata).toMatchObject({ via: 'proxy', proxy_host: 'api.anthropic.com' });
    expect(r.tools).toEqual([expect.objectContaining({ tool: 'echo', injected: true })]);
    expectNothingLeaked();
  });

  it('passthrough routes are served as the proxy user too (GET /v1/models)', async () => {
    h.upstream.setDefault('anthropic-passthrough/models.json');
    const page = await anthropicVia(through(h.token)).models.list();
    expect(page.data.length).toBeGreaterThan(0);
    expect(h.upstream.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/models']);
    expect(h.upstream.requests[0]!.headers['x-api-key']).toBe('sk-ant-upstream-key');
    expectNothingLeaked();
  });
});

describe('the OpenAI SDK through the proxy, with its default base URL', () => {
  const ask = { model: 'gpt-test-1', messages: [{ role: 'user' as const, content: 'hello' }] };

  it('blocking, recorded via proxy, the provider key upstream', async () => {
    h.upstream.enqueue('openai-chat/text.json');
    const completion = await openaiVia(through(h.token)).chat.completions.create(ask);
    expect(completion.choices[0]!.message.content).toBe(facts['openai-chat/text.json']!.text);
    const [up] = h.upstream.requests as [any];
    expect(up.path).toBe('/v1/chat/completions');
    expect(up.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    expect(up.json.tools.map((t: any) => t.function.name)).toEqual(['bmcp_test_echo']);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      initiator_id: h.userId,
      provider_name: 'openai',
      status: 'completed',
      metadata: expect.objectContaining({ via: 'proxy', proxy_host: 'api.openai.com' }),
    });
    expectNothingLeaked();
  });

  it('streaming', async () => {
    h.upstream.enqueue('openai-chat/text.sse');
    const stream = await openaiVia(through(h.token)).chat.completions.create({ ...ask, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe(facts['openai-chat/text.sse']!.text);
    const r = await h.records();
    expect(r.interception.metadata).toMatchObject({ via: 'proxy', proxy_host: 'api.openai.com' });
    expect(r.interception.status).toBe('completed');
    expectNothingLeaked();
  });
});

describe('who may use the proxy, and as whom', () => {
  it('a budget holds through the proxy: refused before anything reaches the upstream', async () => {
    const auditor = await h.bridge.user('audrey', 'auditor');
    h.upstream.setDefault('anthropic-messages/text.json');
    const refused = await anthropicVia(through(auditor.token, 'audrey'))
      .messages.create(ASK)
      .catch((e) => e);
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.message).toMatch(/budget of \$0\.000001\/day would be exceeded for audrey/);
    expect(h.upstream.requests).toEqual([]);
  });

  it("inside a session the caller is the proxy's user, whatever token the request itself carries", async () => {
    const other = await h.bridge.user('olga');
    h.upstream.enqueue('anthropic-messages/text.json');
    const sdk = new Anthropic({
      apiKey: other.token, // another user's bridge token, as x-api-key: not who this is
      baseURL: 'https://api.anthropic.com',
      fetchOptions: { dispatcher: through(h.token) },
      maxRetries: 0,
    });
    await sdk.messages.create(ASK);
    const r = await h.records();
    expect(r.interception).toMatchObject({ initiator_id: h.userId, api_key_id: h.apiKeyId });
    expect(JSON.stringify(h.upstream.requests.map((u) => u.headers))).not.toContain(other.token);
  });

  it('wrong or missing proxy credentials: 407 with Proxy-Authenticate, and nothing is served', async () => {
    for (const authorization of [undefined, basic('dev', 'aib_not-a-token'), `Bearer ${h.token}x`]) {
      const answer = await askProxy(proxyPort, connectRequest('api.anthropic.com:443', authorization));
      expect(answer.status).toBe(407);
      expect(answer.head).toMatch(/\r\nProxy-Authenticate: Basic realm="aibridge"/i);
    }
    const sdk = anthropicVia(through('aib_wrong-token'));
    await expect(sdk.messages.create(ASK)).rejects.toThrow();
    expect(h.upstream.requests).toEqual([]);
  });

  it('the token of a session is checked again per request: revoked, the next request on the open session gets 401', async () => {
    const user = await h.bridge.user('rita');
    h.upstream.setDefault('anthropic-messages/text.json');
    const sdk = anthropicVia(through(user.token, 'rita'));
    await sdk.messages.create(ASK); // the session is now open and kept alive
    await h.bridge.ctx.users.revokeToken(user.apiKeyId);
    h.bridge.ctx.authenticator.forget(); // as the cache's few seconds passing would
    const refused = await sdk.messages.create(ASK).catch((e) => e);
    expect(refused).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(refused.message).toMatch(/this proxy connection was opened with is no longer valid/);
    expect(h.upstream.requests).toHaveLength(1);
  });
});

/** One raw request over a TLS session the proxy intercepts; the answer's status line and body. */
async function rawInside(host: string, request: string): Promise<{ status: number; body: string }> {
  const answer = await askProxy(proxyPort, connectRequest(`${host}:443`, basic('dev', h.token)));
  expect(answer.status).toBe(200);
  const tls = tlsConnect({ socket: answer.socket, servername: host, ca: caPem, ALPNProtocols: ['http/1.1'] });
  let received = '';
  tls.on('data', (c: Buffer) => (received += c));
  tls.write(request);
  await new Promise<void>((resolve, reject) => {
    tls.once('end', resolve);
    tls.once('error', reject);
  });
  tls.destroy();
  const [head, body = ''] = received.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1] ?? 0), body };
}

describe('inside an intercepted session only the mapped provider is reachable', () => {
  it("the bridge's own API and another provider's routes are not found there", async () => {
    for (const path of ['/api/v2/aibridge/interceptions', '/openai/v1/models', '/metrics']) {
      const { status } = await rawInside(
        'api.anthropic.com',
        `GET ${path} HTTP/1.1\r\nHost: api.anthropic.com\r\nAuthorization: Bearer ${h.token}\r\nConnection: close\r\n\r\n`,
      );
      expect(status, path).toBe(404);
    }
  });

  it('a request that is not origin-form (absolute URL, asterisk) is refused with 400', async () => {
    for (const target of ['https://api.anthropic.com/v1/models', '*']) {
      const { status, body } = await rawInside(
        'api.anthropic.com',
        `OPTIONS ${target} HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n`,
      );
      expect(status, target).toBe(400);
      expect(JSON.parse(body).error.message).toMatch(/needs a path that starts with \//);
    }
    expect(h.upstream.requests).toEqual([]);
  });
});

describe('what operators see', () => {
  it('the audit API shows via: proxy in the metadata', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await anthropicVia(through(h.token)).messages.create(ASK);
    const { interception } = await h.records();
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions/${interception._id}`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(res.status).toBe(200);
    const shown = (await res.json()) as { metadata: Record<string, unknown> };
    expect(shown.metadata).toMatchObject({ via: 'proxy', proxy_host: 'api.anthropic.com' });
  });

  it('a direct request is recorded without via', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create(ASK);
    const { interception } = await h.records();
    expect(interception.metadata?.via).toBeUndefined();
  });

  it("/metrics has the proxy's series", async () => {
    const text = await (await fetch(`${h.bridge.url}/metrics`)).text();
    const value = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    expect(value('aibridge_proxy_connect_sessions_total\\{result="intercepted"\\}')).toBeGreaterThan(0);
    expect(value('aibridge_proxy_connect_sessions_total\\{result="unauthenticated"\\}')).toBeGreaterThanOrEqual(3);
    expect(value('aibridge_proxy_mitm_requests_total\\{host="api.anthropic.com"\\}')).toBeGreaterThan(0);
    expect(value('aibridge_proxy_mitm_requests_total\\{host="api.openai.com"\\}')).toBeGreaterThan(0);
    expect(text).toMatch(/^aibridge_proxy_tunnelled_bytes_total \d+$/m);
  });
});
