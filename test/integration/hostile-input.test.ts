import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { testEmbeddedStore } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';
import { rawExchange, rawRequest } from '../helpers/raw-http.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

let h: { store: Store; upstream: ReplayUpstream; bridge: TestBridge; token: string };
let deadPort: number;

// An openai and an anthropic provider on a replaying upstream, one that nothing listens for, one without a key.
beforeAll(async () => {
  deadPort = await freePort();
  const store = testEmbeddedStore();
  const upstream = await ReplayUpstream.start();
  const bridge = await startTestBridge(store, {
    limits: { breaker_threshold: 2, breaker_cooldown: '30s', max_model_labels: 3 },
    providers: [
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' },
      { name: 'dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: 'sk-dead' },
      { name: 'keyless', type: 'anthropic', base_url: upstream.url, api_key: '' },
    ],
  });
  h = { store, upstream, bridge, token: (await bridge.user('dev')).token };
});
afterAll(async () => {
  await h.bridge.close();
  await h.upstream.close();
  await h.store.close();
});
beforeEach(() => h.upstream.reset());

const headers = () => ({ 'x-api-key': h.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' });
const ask = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('Expect: 100-continue', () => {
  it('works with a 2 MB body, never reaches the upstream as a header, and never opens the circuit', async () => {
    h.upstream.setDefault('anthropic-messages/text.json');
    const big = ask({ messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] });
    for (let i = 0; i < 4; i++) {
      const res = await rawRequest(h.bridge.url, '/anthropic/v1/messages', {
        method: 'POST',
        headers: headers(),
        body: big,
        expectContinue: true,
      });
      expect(res.status, res.text).toBe(200);
    }
    const counted = await rawRequest(h.bridge.url, '/anthropic/v1/messages/count_tokens', {
      method: 'POST',
      headers: headers(),
      body: big,
      expectContinue: true,
    });
    expect(counted.status).toBe(200);
    expect(h.upstream.requests).toHaveLength(5);
    for (const r of h.upstream.requests) {
      expect(r.headers.expect).toBeUndefined();
      expect(r.body.length).toBeGreaterThan(2 * 1024 * 1024);
    }
    const breaker = h.bridge.ctx.providers.find((p) => p.name === 'anthropic')?.breakers.for('claude-test-1');
    expect(breaker?.state).toBe('closed');
    h.upstream.setDefault(undefined);
  });
});

describe('upstream failures', () => {
  it('say "upstream unreachable" with a request id, never the address; the detail is logged under that id', async () => {
    const res = await rawRequest(h.bridge.url, '/dead/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(502);
    const id = res.headers['x-request-id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.error.message).toBe(`upstream unreachable (request id ${id})`);
    expect(res.text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    expect(res.text).not.toContain(String(deadPort));
    const line = h.bridge.logs.lines.find((l) => l.includes(id) && l.includes('ECONNREFUSED'));
    expect(line).toBeDefined();
  });

  it('a real connect error counts toward the circuit', async () => {
    const body = JSON.stringify({ model: 'gpt-breaker', messages: [{ role: 'user', content: 'hi' }] });
    const send = () =>
      rawRequest(h.bridge.url, '/dead/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        body,
      });
    expect((await send()).status).toBe(502);
    expect((await send()).status).toBe(502);
    expect((await send()).status).toBe(503); // open
  });
});

describe('deep JSON', () => {
  it('100 000 levels with stream: true → 400 in the provider format, not a stack overflow', async () => {
    const depth = 100_000;
    const body = `{"model":"claude-test-1","stream":true,"max_tokens":5,"messages":[{"role":"user","content":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
    for (const path of ['/anthropic/v1/messages', '/anthropic/v1/messages/count_tokens']) {
      const res = await rawRequest(h.bridge.url, path, { method: 'POST', headers: headers(), body });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      expect(res.json.error.message).toContain('deeper than 1000');
    }
    expect(h.upstream.requests).toEqual([]);
  });
});

describe('oversized headers and URLs → 431, never a reset', () => {
  it('a 70 KB header block', async () => {
    const answer = await rawExchange(
      h.bridge.url,
      `POST /anthropic/v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${h.token}\r\nx-pad: ${'a'.repeat(70_000)}\r\ncontent-length: 2\r\n\r\n{}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('a 60 KB query string (with the headers, over the limit)', async () => {
    const answer = await rawExchange(
      h.bridge.url,
      `GET /openai/v1/models?q=${'b'.repeat(60_000)} HTTP/1.1\r\nhost: x\r\nx-pad: ${'c'.repeat(8_000)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'request_header_fields_too_large' },
    });
  });

  it('garbage instead of HTTP → 400', async () => {
    const answer = await rawExchange(h.bridge.url, 'HELLO THERE\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('request loops', () => {
  it('a request carrying this bridge’s own hop marker → 508 in the provider format, never forwarded', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await rawRequest(h.bridge.url, '/anthropic/v1/messages', { method: 'POST', headers: headers(), body: ask() });
    const marker = h.upstream.requests[0]?.headers['x-aibridge-hop'] as string;
    expect(marker).toBeTruthy();
    h.upstream.reset();
    const res = await rawRequest(h.bridge.url, '/anthropic/v1/messages', {
      method: 'POST',
      headers: { ...headers(), 'x-aibridge-hop': marker },
      body: ask(),
    });
    expect(res.status).toBe(508);
    expect(res.json).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(res.json.error.message).toContain('loop');
    expect(h.upstream.requests).toEqual([]);
    expect((await fetch(`${h.bridge.url}/healthz`)).status).toBe(200);
  });

  it('two bridges pointing at each other: the loop ends at once with 508, both stay up', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const store = testEmbeddedStore();
    const a = await startTestBridge(store, {
      listen: `127.0.0.1:${portA}`,
      providers: [{ name: 'openai', type: 'openai', base_url: `http://127.0.0.1:${portB}/openai/v1`, api_key: 'sk-a' }],
    });
    const b = await startTestBridge(store, {
      listen: `127.0.0.1:${portB}`,
      providers: [{ name: 'openai', type: 'openai', base_url: `http://127.0.0.1:${portA}/openai/v1`, api_key: 'sk-b' }],
    });
    try {
      const user = await a.user('looper');
      const res = await fetch(`${a.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(508);
      expect((await res.json()).error.code).toBe('loop_detected');
      expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
      await store.close();
    }
  });
});

describe('a provider without an api_key', () => {
  it('was named in a start-up warning, and its requests get a clear error instead of going upstream keyless', async () => {
    expect(h.bridge.logs.text).toContain('provider \\"keyless\\" has no credentials (providers[3].api_key)');
    const res = await rawRequest(h.bridge.url, '/keyless/v1/messages', {
      method: 'POST',
      headers: headers(),
      body: ask(),
    });
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('no api_key configured (providers[3].api_key)') },
    });
    expect(h.upstream.requests).toEqual([]);
  });
});

describe('metric labels chosen by clients', () => {
  it('past limits.max_model_labels new model names are counted as model="other"', async () => {
    h.upstream.setDefault('anthropic-messages/http-429.json');
    for (let i = 0; i < 10; i++) {
      await rawRequest(h.bridge.url, '/anthropic/v1/messages', {
        method: 'POST',
        headers: headers(),
        body: ask({ model: `invented-model-${i}` }),
      });
    }
    h.upstream.setDefault(undefined);
    const scrape = parsePrometheus(await (await fetch(`${h.bridge.url}/metrics`)).text());
    const models = new Set(
      scrape.samples.filter((s) => s.name === 'aibridge_interceptions_total').map((s) => s.labels.model),
    );
    expect(models.size).toBeLessThanOrEqual(4);
    expect(models.has('other')).toBe(true);
    expect(scrape.value('aibridge_interceptions_total', { model: 'other' })).toBeGreaterThanOrEqual(7);
  });
});

describe('slow bodies', () => {
  it('a body not received within limits.body_timeout → 408 and the connection closed; streams are not cut', async () => {
    const store = testEmbeddedStore();
    const upstream = await ReplayUpstream.start();
    const bridge = await startTestBridge(store, {
      limits: { body_timeout: '1s' },
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant' }],
    });
    try {
      const { token } = await bridge.user('slow');
      const url = new URL(bridge.url);
      const answer = await new Promise<{ status: number; body: string; closed: boolean }>((resolve, reject) => {
        const req = httpRequest({
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/anthropic/v1/messages',
          headers: { 'x-api-key': token, 'content-type': 'application/json', 'content-length': '1000' },
          agent: false,
        });
        const trickle = setInterval(() => req.write('x'), 200);
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            clearInterval(trickle);
            req.socket?.once('close', () => resolve({ status: res.statusCode ?? 0, body, closed: true }));
          });
        });
        req.on('error', (err) => {
          clearInterval(trickle);
          reject(err);
        });
        req.write('{"model":');
      });
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      expect(answer.closed).toBe(true);
      expect(upstream.requests).toEqual([]);

      // A stream that lasts longer than body_timeout is not cut: it is the body, not the response, that is timed.
      upstream.enqueue('anthropic-messages/hang.sse');
      const controller = new AbortController();
      const stream = await fetch(`${bridge.url}/anthropic/v1/messages`, {
        method: 'POST',
        signal: controller.signal,
        headers: { 'x-api-key': token, 'content-type': 'application/json' },
        body: ask({ stream: true }),
      });
      expect(stream.status).toBe(200);
      const reader = stream.body?.getReader();
      await reader?.read();
      let ended = false;
      const next = reader?.read().then(
        (r) => (ended = r.done),
        () => (ended = true),
      );
      await new Promise((r) => setTimeout(r, 3_000)); // three body timeouts, and the connection checks between
      expect(ended).toBe(false);
      controller.abort();
      await next;
    } finally {
      await bridge.close();
      await upstream.close();
      await store.close();
    }
  });
});
