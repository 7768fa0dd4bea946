import { request } from 'node:http';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SseParser } from '../../src/providers/sse.ts';
import { MAX_SOCKETS_PER_USER } from '../../src/server/responses-socket/upgrade.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * Responses over WebSocket (Codex's default transport) with a plain `ws` client and the OpenAI
 * SDK's own WebSocket client, against the real bridge and a replaying upstream reached over HTTP.
 */

const facts = manifest();
const TEXT = facts['openai-responses/text.sse']!;
const CLIENT_TOOL = facts['openai-responses/client-tool.sse']!;
const CALL = facts['openai-responses/injected-tool.sse']!;
const AFTER = facts['openai-responses/after-tool.sse']!;

/** What Codex 0.171 sends on its upgrade (its research notes), plus the bridge token. */
function codexHeaders(token: string): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    'user-agent': 'codex_exec/0.171.0 (Debian 12.0.0; x86_64) unknown (codex_exec; 0.171.0)',
    originator: 'codex_exec',
    'openai-beta': 'responses_websockets=2026-02-06',
    'session-id': 'codex-ws-session-1',
    'x-codex-window-id': 'window-1:0',
    'x-codex-turn-metadata': '{"request_kind":"prewarm"}',
    version: '0.171.0',
  };
}

const developer = { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Be brief.' }] };
const user = (text: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text }] });

/** A `response.create` as Codex sends it: the HTTP body, flat, with `type`. */
function create(fields: Record<string, unknown>): string {
  return JSON.stringify({
    type: 'response.create',
    model: 'gpt-4.1',
    stream: true,
    store: false,
    tools: [],
    tool_choice: 'auto',
    parallel_tool_calls: true,
    ...fields,
  });
}

const TERMINAL = new Set(['response.completed', 'response.failed', 'response.incomplete', 'error']);

/** A client socket that queues what it receives, for a test to read in order. */
class Client {
  readonly ws: WebSocket;
  readonly frames: any[] = [];
  readonly raw: string[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data, binary) => {
      expect(binary, 'a binary frame').toBe(false);
      const text = data.toString();
      this.raw.push(text);
      this.frames.push(JSON.parse(text));
      this.#wake?.();
    });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.#wake?.();
      }),
    );
  }

  static async open(url: string, headers: Record<string, string>): Promise<Client> {
    const client = new Client(url, headers);
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve());
      client.ws.once('error', reject);
    });
    return client;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** The next frame (waiting for it). */
  async next(): Promise<any> {
    while (this.#read >= this.frames.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    return this.frames[this.#read++];
  }

  /** Every frame up to and including the next terminal one. */
  async response(): Promise<any[]> {
    const frames: any[] = [];
    for (;;) {
      const frame = await this.next();
      frames.push(frame);
      if (TERMINAL.has(frame.type)) return frames;
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** The status and body of an upgrade the bridge refused. */
function refusedUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
  });
}

async function metric(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = await h.bridge.ctx.metrics.registry.getSingleMetric(name)?.get();
  const match = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

const httpEvents = (text: string) =>
  new SseParser()
    .push(text)
    .filter((e) => e.data)
    .map((e) => JSON.parse(e.data));

describe('Responses over WebSocket', () => {
  let h: Harness;
  let mcp: TestMcpServer;
  let url: string;
  beforeAll(async () => {
    mcp = await startTestMcpServer({ extraTools: 0 });
    h = await startHarness('responses-ws', {
      mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    });
    url = `${h.bridge.url.replace('http:', 'ws:')}/openai/v1/responses`;
  });
  afterAll(async () => {
    await h.close();
    await mcp.stop();
  });
  beforeEach(() => h.upstream.reset());

  it('refuses the upgrade before the 101 without a valid token, in the provider format', async () => {
    const before = await metric(h, 'aibridge_websocket_connections_total', { provider: 'openai' });
    const { authorization: _, ...anonymous } = codexHeaders(h.token);
    const missing = await refusedUpgrade(url, anonymous);
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatchObject({ code: 'invalid_api_key' });
    const wrong = await refusedUpgrade(url, { ...anonymous, authorization: 'Bearer aib_not-a-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toContain('invalid or expired');
    expect(await metric(h, 'aibridge_websocket_connections_total', { provider: 'openai' })).toBe(before);
    expect(await metric(h, 'aibridge_refused_requests_total', { provider: 'openai', reason: 'unauthenticated' })).toBe(
      2,
    );
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('refuses upgrades on other paths with 426, so the client uses HTTP', async () => {
    const base = h.bridge.url.replace('http:', 'ws:');
    const headers = codexHeaders(h.token);
    for (const path of ['/openai/v1/chat/completions', '/anthropic/v1/messages', '/openai/v1/responses/compact']) {
      const refused = await refusedUpgrade(`${base}${path}`, headers);
      expect(refused.status, path).toBe(426);
      expect(refused.body.error?.message ?? refused.body.message, path).toContain('use HTTP');
    }
    expect((await refusedUpgrade(`${base}/healthz`, headers)).status).toBe(426);
    expect((await refusedUpgrade(`${base}/openai/v1//responses`, headers)).status).toBe(400);
  });

  it('answers a warm-up itself: no upstream call, nothing recorded, an id to chain to', async () => {
    const warmups = await metric(h, 'aibridge_websocket_requests_total', { provider: 'openai', input: 'warmup' });
    const client = await Client.open(url, codexHeaders(h.token));
    client.send(create({ input: [developer], generate: false }));
    const [created, completed] = await client.response();
    expect(created).toMatchObject({ type: 'response.created', response: { status: 'in_progress' } });
    expect(completed).toMatchObject({
      type: 'response.completed',
      response: { status: 'completed', output: [], usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } },
    });
    expect(completed.response.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(created.response.id).toBe(completed.response.id);
    expect(h.upstream.requests).toHaveLength(0);
    expect(await metric(h, 'aibridge_websocket_requests_total', { provider: 'openai', input: 'warmup' })).toBe(
      warmups + 1,
    );
    await h.bridge.ctx.recorder.flush();
    expect(await h.store.audit.list({}, { limit: 10 })).toHaveLength(0);
    client.close();
  });

  it('bridges a response.create like the HTTP stream: the same events, one text frame each, recorded', async () => {
    h.upstream.enqueue('openai-responses/text.sse');
    const overHttp = await fetch(`${h.bridge.url}/openai/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: [user('Say hello')], stream: true, store: false }),
    }).then((r) => r.text());
    await h.records();
    h.upstream.reset();

    h.upstream.enqueue('openai-responses/text.sse');
    const client = await Client.open(url, codexHeaders(h.token));
    const metadata = { 'x-codex-turn-metadata': '{"turn_id":"t1"}', 'x-codex-ws-stream-request-start-ms': '1' };
    client.send(create({ input: [user('Say hello')], client_metadata: metadata }));
    const frames = await client.response();
    expect(frames).toEqual(httpEvents(overHttp));
    expect(frames.at(-1)).toMatchObject({ type: 'response.completed', response: { id: TEXT.response_id } });
    const text = frames.filter((f) => f.type === 'response.output_text.delta').map((f) => f.delta);
    expect(text.join('')).toBe(TEXT.text);

    // Upstream: an HTTP request as Codex would have sent it, the upgrade's headers on it.
    const [sent] = h.upstream.requests as [any];
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/v1/responses');
    expect(sent.json).toEqual({
      model: 'gpt-4.1',
      stream: true,
      store: false,
      tools: sent.json.tools,
      tool_choice: 'auto',
      parallel_tool_calls: sent.json.parallel_tool_calls,
      input: [user('Say hello')],
    });
    expect(sent.json.tools.map((t: any) => t.name)).toEqual(['bmcp_test_echo']);
    expect(sent.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    expect(sent.headers['session-id']).toBe('codex-ws-session-1');
    expect(sent.headers.originator).toBe('codex_exec');
    expect(sent.headers['user-agent']).toMatch(/^codex_exec\/0\.171\.0/);
    expect(sent.headers['x-codex-window-id']).toBe('window-1:0');
    expect(sent.headers['x-codex-turn-metadata']).toBe('{"turn_id":"t1"}');
    expect(sent.headers['x-codex-ws-stream-request-start-ms']).toBeUndefined();
    expect(sent.headers['openai-beta']).toBeUndefined();
    expect(Object.keys(sent.headers).filter((k) => k.startsWith('sec-websocket') || k === 'upgrade')).toEqual([]);
    expect(JSON.stringify(sent.headers)).not.toContain(h.token);

    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider_name: 'openai',
      model: 'gpt-4.1',
      client: 'Codex',
      client_session_id: 'codex-ws-session-1',
      status: 'completed',
      metadata: { transport: 'websocket' },
    });
    expect(r.interception.user_agent).toMatch(/^codex_exec\//);
    expect(r.prompts.map((p) => p.prompt)).toEqual(['Say hello']);
    expect(r.tokens[0]).toMatchObject(TEXT.usage!);
    client.close();
  });

  it('rebuilds the full input of chained requests: warm-up, turn, tool output, several responses on one socket', async () => {
    h.upstream.enqueue('openai-responses/client-tool.sse', 'openai-responses/text.sse');
    const chainedBefore = await metric(h, 'aibridge_websocket_requests_total', {
      provider: 'openai',
      input: 'chained',
    });
    const client = await Client.open(url, codexHeaders(h.token));
    client.send(create({ input: [developer], generate: false }));
    const warm = (await client.response()).at(-1);

    client.send(create({ previous_response_id: warm.response.id, input: [user('Weather in Paris?')] }));
    const turn = await client.response();
    const first = await h.records();
    const completed = turn.at(-1);
    expect(completed).toMatchObject({ type: 'response.completed', response: { id: CLIENT_TOOL.response_id } });
    const items = turn.filter((f) => f.type === 'response.output_item.done').map((f) => f.item);
    expect(items.map((i) => i.call_id)).toEqual([CLIENT_TOOL.tool_calls[0]!.id]);
    expect(h.upstream.requests[0]!.json.input).toEqual([developer, user('Weather in Paris?')]);
    expect(h.upstream.requests[0]!.json.previous_response_id).toBeUndefined();

    const output = { type: 'function_call_output', call_id: CLIENT_TOOL.tool_calls[0]!.id, output: '18°C, sunny' };
    client.send(create({ previous_response_id: completed.response.id, input: [output] }));
    expect((await client.response()).at(-1)).toMatchObject({
      type: 'response.completed',
      response: { id: TEXT.response_id },
    });
    expect(h.upstream.requests[1]!.json.input).toEqual([developer, user('Weather in Paris?'), ...items, output]);
    expect(await metric(h, 'aibridge_websocket_requests_total', { provider: 'openai', input: 'chained' })).toBe(
      chainedBefore + 2,
    );

    const second = await h.records();
    expect(first.tools).toEqual([
      expect.objectContaining({ tool: 'get_weather', injected: false, tool_call_id: CLIENT_TOOL.tool_calls[0]!.id }),
    ]);
    expect(second.interception.metadata).toMatchObject({ transport: 'websocket' });
    client.close();
  });

  it('answers previous_response_not_found for an id the socket does not hold, and goes on', async () => {
    const client = await Client.open(url, codexHeaders(h.token));
    client.send(create({ previous_response_id: 'resp_unknown', input: [user('hi')] }));
    expect(await client.next()).toMatchObject({
      type: 'error',
      status: 400,
      error: { type: 'invalid_request_error', code: 'previous_response_not_found', param: 'previous_response_id' },
    });
    expect(h.upstream.requests).toHaveLength(0);

    // A response that did not complete leaves nothing to chain to either.
    h.upstream.enqueue('openai-responses/mid-stream-error.sse');
    client.send(create({ input: [user('hi')] }));
    const failed = (await client.response()).at(-1);
    expect(failed.type).toBe('response.failed');
    client.send(create({ previous_response_id: failed.response.id, input: [user('again')] }));
    expect(await client.next()).toMatchObject({ status: 400, error: { code: 'previous_response_not_found' } });
    await h.records();

    h.upstream.enqueue('openai-responses/text.sse');
    client.send(create({ input: [user('in full')] }));
    expect((await client.response()).at(-1).type).toBe('response.completed');
    await h.records();
    client.close();
  });

  it('runs an injected MCP tool inside one response; the client sees neither the call nor the result', async () => {
    h.upstream.enqueue('openai-responses/injected-tool.sse', 'openai-responses/after-tool.sse');
    const client = await Client.open(`${h.bridge.url.replace('http:', 'ws:')}/api/v2/ai-gateway/openai/v1/responses`, {
      ...codexHeaders(h.token),
    });
    client.send(create({ input: [user('Use the echo tool')] }));
    const frames = await client.response();
    expect(JSON.stringify(frames)).not.toContain('bmcp_test_echo');
    expect(frames.at(-1)).toMatchObject({ type: 'response.completed', response: { id: AFTER.response_id } });
    const items = frames.filter((f) => f.type === 'response.output_item.done').map((f) => f.item);
    expect(items).toHaveLength(1);
    expect(h.upstream.requests).toHaveLength(2);
    expect(mcp.calls.get('echo')).toBe(1);
    const r = await h.records();
    expect(r.tools).toEqual([
      expect.objectContaining({ tool: 'echo', injected: true, tool_call_id: CALL.tool_calls[0]!.id }),
    ]);
    expect(r.tokens.map((t) => t.provider_response_id)).toEqual([CALL.response_id, AFTER.response_id]);

    // The next request continues from what the client saw: the final answer, not the hidden call.
    h.upstream.enqueue('openai-responses/text.sse');
    client.send(create({ previous_response_id: AFTER.response_id, input: [user('thanks')] }));
    expect((await client.response()).at(-1).type).toBe('response.completed');
    expect(h.upstream.requests[2]!.json.input).toEqual([user('Use the echo tool'), ...items, user('thanks')]);
    await h.records();
    client.close();
  });

  it('sends errors as error frames with their status, and keeps the socket', async () => {
    const client = await Client.open(url, codexHeaders(h.token));
    h.upstream.enqueue('openai-responses/http-429.json');
    client.send(create({ input: [user('hi')] }));
    expect(await client.next()).toMatchObject({
      type: 'error',
      status: 429,
      code: 'rate_limit_exceeded',
      error: { code: 'rate_limit_exceeded', type: 'tokens' },
      headers: { 'retry-after': '2' },
    });
    expect((await h.records()).interception.status).toBe('failed');

    // A stream cut midway: the events so far, then an error frame with a status (5xx: Codex retries).
    h.upstream.enqueue('openai-responses/cut.sse');
    client.send(create({ input: [user('hi')] }));
    const cut = await client.response();
    expect(cut.at(-1)).toMatchObject({
      type: 'error',
      status: 502,
      code: 'upstream_error',
      error: { type: 'server_error', code: 'upstream_error' },
    });
    expect(cut.at(-1).message).toMatch(/upstream stream broke|ended before/);
    expect(cut.at(-1).sequence_number).toBe(cut.length - 1);
    expect((await h.records()).interception.status).toBe('failed');

    client.send('{"type":"response.create",');
    expect(await client.next()).toMatchObject({ type: 'error', status: 400, error: { type: 'invalid_request_error' } });
    client.send(create({ input: 42 }));
    expect(await client.next()).toMatchObject({
      type: 'error',
      status: 400,
      message: expect.stringContaining('input'),
    });
    client.ws.send(Buffer.from('binary'), { binary: true });
    expect(await client.next()).toMatchObject({ type: 'error', status: 400 });
    client.send(create({ model: 'x'.repeat(600), input: 'hi' }));
    expect(await client.next()).toMatchObject({ type: 'error', status: 400 });
    client.send('{"type":"response.processed","response_id":"resp_x"}'); // an acknowledgement: no answer

    h.upstream.enqueue('openai-responses/text.sse');
    client.send(create({ input: 'hi' }));
    const frames = await client.response();
    expect(frames.every((f) => f.type !== 'error')).toBe(true);
    expect(frames.at(-1).type).toBe('response.completed');
    expect(h.upstream.requests).toHaveLength(3);
    await h.records();
    client.close();
  });

  it('works with the OpenAI SDK WebSocket client', async () => {
    h.upstream.enqueue('openai-responses/text.sse');
    const openai = new OpenAI({ baseURL: `${h.bridge.url}/openai/v1`, apiKey: h.token, maxRetries: 0 });
    const ws = new ResponsesWS(openai);
    const events: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.on('event', (event: any) => {
        events.push(event);
        if (event.type === 'response.completed') resolve();
      });
      ws.on('error', reject);
    });
    ws.send({ type: 'response.create', model: 'gpt-4.1', input: 'Say hello' });
    await done;
    ws.close();
    expect(
      events
        .filter((e) => e.type === 'response.output_text.delta')
        .map((e) => e.delta)
        .join(''),
    ).toBe(TEXT.text);
    expect(h.upstream.requests[0]!.json).toMatchObject({ model: 'gpt-4.1', input: 'Say hello', stream: true });
    const r = await h.records();
    expect(r.interception.metadata).toMatchObject({ transport: 'websocket' });
  });
});

describe('Responses over WebSocket: keep-alives, disconnects and bounds', () => {
  let h: Harness;
  let url: string;
  beforeAll(async () => {
    h = await startHarness('responses-ws-bounds', {
      tool_loop: { keepalive: '50ms' },
      limits: { body_bytes: 65_536 },
      budgets: { auditor: { usd: 0.000001, period: 'day' } },
    });
    url = `${h.bridge.url.replace('http:', 'ws:')}/openai/v1/responses`;
  });
  afterAll(() => h.close());
  beforeEach(() => h.upstream.reset());

  it('keeps a silent response alive with text frames; a client that drops aborts the upstream call', async () => {
    h.upstream.enqueue('openai-responses/hang.sse');
    const client = await Client.open(url, codexHeaders(h.token));
    client.send(create({ input: [user('hi')] }));
    let frame = await client.next();
    while (frame.type !== 'response.output_text.delta') frame = await client.next();
    // The upstream has gone quiet: what comes now is the keep-alive, a repeated in_progress.
    expect(await client.next()).toMatchObject({
      type: 'response.in_progress',
      response: { id: facts['openai-responses/hang.sse']!.response_id, status: 'in_progress' },
    });
    client.ws.terminate(); // as Codex on an interrupt: no close frame (1006)
    const r = await h.records();
    expect(r.interception).toMatchObject({ status: 'failed', metadata: { error: 'client disconnected' } });
    await waitUntil(() => h.upstream.aborted === 1);
    await waitUntil(async () => (await metric(h, 'aibridge_websocket_connections_open', { provider: 'openai' })) === 0);
  });

  it('closes a socket that stays idle, and one whose message is larger than limits.body_bytes', async () => {
    const { ctx } = h.bridge;
    const config = ctx.config;
    ctx.config = { ...config, limits: { ...config.limits, websocket_idle: '200ms' } }; // as a reload does
    try {
      const idle = await Client.open(url, codexHeaders(h.token));
      expect(await idle.closed).toEqual({ code: 1000, reason: 'idle' });
    } finally {
      ctx.config = config;
    }

    const large = await Client.open(url, codexHeaders(h.token));
    large.send(create({ input: 'x'.repeat(70_000) }));
    expect((await large.closed).code).toBe(1009);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('refuses a response the budget cannot pay for with a 429 frame, nothing sent upstream; the socket goes on', async () => {
    const auditor = await h.bridge.user('ws-auditor', 'auditor');
    const refusedBefore = await metric(h, 'aibridge_refused_requests_total', { provider: 'openai', reason: 'budget' });
    const client = await Client.open(url, codexHeaders(auditor.token));
    client.send(create({ input: [user('hi')] }));
    const refusal = await client.next();
    expect(refusal).toMatchObject({ type: 'error', status: 429, error: { code: 'rate_limit_exceeded' } });
    expect(refusal.message).toMatch(/budget/);
    expect(h.upstream.requests).toHaveLength(0);
    expect(await metric(h, 'aibridge_refused_requests_total', { provider: 'openai', reason: 'budget' })).toBe(
      refusedBefore + 1,
    );
    client.send(create({ input: [developer], generate: false }));
    expect((await client.response()).at(-1).type).toBe('response.completed');
    client.close();
  });

  it(`lets one user hold at most ${MAX_SOCKETS_PER_USER} sockets: the next upgrade is refused with 429`, async () => {
    const heavy = await h.bridge.user('ws-heavy');
    const open = await Promise.all(
      Array.from({ length: MAX_SOCKETS_PER_USER }, () => Client.open(url, codexHeaders(heavy.token))),
    );
    const refused = await refusedUpgrade(url, codexHeaders(heavy.token));
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toContain('WebSockets open');
    // Another user is not affected, and a socket closed gives its place back.
    (await Client.open(url, codexHeaders(h.token))).close();
    const first = open[0]!;
    first.close();
    await first.closed;
    await waitUntil(async () => {
      const ws = new WebSocket(url, { headers: codexHeaders(heavy.token) });
      const opened = await new Promise<boolean>((resolve) => {
        ws.once('open', () => resolve(true));
        ws.once('error', () => resolve(false));
      });
      ws.close();
      return opened;
    });
    for (const client of open) client.close();
  });

  it("serves a request that asks to become h2c (as Java's HttpClient does) in HTTP/1.1, and says nothing of it upstream", async () => {
    h.upstream.setDefault('openai-chat/text.json');
    const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${h.bridge.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${h.token}`,
          'content-type': 'application/json',
          connection: 'Upgrade, HTTP2-Settings',
          upgrade: 'h2c',
          'http2-settings': 'AAEAAEAAAAIAAAAAAAMAAAAAAAQBAAAAAAUAAEAAAAYABgAA',
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status, answer.text).toBe(200);
    expect(JSON.parse(answer.text).choices[0].message.content).toBeTruthy();
    const sent = h.upstream.requests.at(-1)?.headers ?? {};
    expect(Object.keys(sent)).not.toContain('upgrade');
    expect(Object.keys(sent)).not.toContain('http2-settings');
  });

  it('keeps what warm-ups chained on warm-ups add within limits.body_bytes', async () => {
    const client = await Client.open(url, codexHeaders(h.token));
    const chunk = [user('x'.repeat(40_000))];
    client.send(create({ input: chunk, generate: false }));
    const first = (await client.response()).at(-1);
    expect(first.type).toBe('response.completed');
    client.send(create({ previous_response_id: first.response.id, input: chunk, generate: false }));
    const [refusal] = await client.response();
    expect(refusal).toMatchObject({ type: 'error', status: 413 });
    // Nothing held to chain to any more: the socket starts again from a full input.
    client.send(create({ previous_response_id: first.response.id, input: chunk, generate: false }));
    expect((await client.response())[0]).toMatchObject({
      type: 'error',
      error: { code: 'previous_response_not_found' },
    });
    expect(h.upstream.requests).toHaveLength(0);
    client.close();
  });

  it('refuses a second request while one runs, and closes once it ends when the bridge shuts down', async () => {
    h.upstream.enqueue('openai-responses/slow-text.sse');
    const client = await Client.open(url, codexHeaders(h.token));
    client.send(create({ input: [user('hi')] }));
    expect((await client.next()).type).toBe('response.created');
    client.send(create({ input: [user('too soon')] }));
    const frames = await client.response();
    const refusal = frames.find((f) => f.type === 'error');
    expect(refusal).toMatchObject({ status: 400, message: expect.stringContaining('one at a time') });
    const rest = frames.at(-1).type === 'error' ? await client.response() : frames;
    expect(rest.at(-1).type).toBe('response.completed');
    expect(h.upstream.requests).toHaveLength(1);
    await h.records();

    const closing = h.bridge.close();
    expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    await closing;
  });
});
