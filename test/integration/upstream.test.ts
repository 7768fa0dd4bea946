import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadFixture, ReplayUpstream } from '../helpers/upstream.ts';

const fixtureFile = (path: string) => readFileSync(new URL(`../../fixtures/${path}`, import.meta.url), 'utf8');

let upstream: ReplayUpstream;
beforeAll(async () => {
  upstream = await ReplayUpstream.start();
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
  upstream.setDefault(undefined);
});

const post = (path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${upstream.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify(body),
    ...init,
  });

async function waitFor(check: () => boolean, ms = 5_000) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ReplayUpstream', () => {
  it('serves a blocking fixture with its status, headers and a single-line body', async () => {
    upstream.enqueue('openai-chat/text.json');
    const res = await post('/v1/chat/completions?x=1', { model: 'gpt-4.1', messages: [] });
    const file = JSON.parse(fixtureFile('openai-chat/text.json'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-request-id')).toBe(file.headers['x-request-id']);
    const text = await res.text();
    expect(text).toBe(JSON.stringify(file.body));
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));

    expect(upstream.requests).toHaveLength(1);
    const [req] = upstream.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/v1/chat/completions?x=1', json: { model: 'gpt-4.1' } });
    expect(req!.headers.authorization).toBe('Bearer sk-test');
  });

  it('serves error fixtures with their status and headers', async () => {
    upstream.enqueue('anthropic-messages/http-529.json', 'openai-responses/http-429.json');
    const overloaded = await post('/v1/messages', {});
    expect(overloaded.status).toBe(529);
    expect(await overloaded.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    const limited = await post('/v1/responses', {});
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
  });

  it('streams an SSE fixture byte for byte, chunked', async () => {
    upstream.enqueue('anthropic-messages/text.sse');
    const res = await post('/v1/messages', { stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('content-length')).toBeNull();
    expect(await res.text()).toBe(fixtureFile('anthropic-messages/text.sse'));
  });

  it('honours fixture-delay between events, sending them as they come', async () => {
    upstream.enqueue('openai-chat/slow-text.sse');
    const fixture = loadFixture('openai-chat/slow-text.sse');
    if (fixture.kind !== 'sse') throw new Error('not sse');
    const delays = fixture.chunks.filter((c) => 'delayMs' in c).length;
    const started = Date.now();
    const res = await post('/v1/chat/completions', { stream: true });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let first = -1;
    let body = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first < 0) first = Date.now() - started;
      body += decoder.decode(value, { stream: true });
    }
    const total = Date.now() - started;
    expect(first).toBeLessThan(250);
    expect(total).toBeGreaterThanOrEqual(delays * 300 - 50);
    expect(body).not.toContain('fixture-delay');
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('breaks the connection mid-body at fixture-cut', async () => {
    upstream.enqueue('openai-chat/cut.sse');
    const res = await post('/v1/chat/completions', { stream: true });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    const failure = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          received += decoder.decode(value, { stream: true });
        }
      } catch (err) {
        return err as Error;
      }
    })();
    expect(failure).toBeInstanceOf(Error);
    expect(received).toContain('"content":"Hello"');
    expect(received).not.toContain('[DONE]');
    expect(upstream.aborted).toBe(0);
  });

  it('keeps a hanging stream open and counts the client abort', async () => {
    upstream.enqueue('anthropic-messages/hang.sse');
    const controller = new AbortController();
    const res = await post('/v1/messages', { stream: true }, { signal: controller.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    while (!received.includes('text_delta')) {
      const { value } = await reader.read();
      received += decoder.decode(value, { stream: true });
    }
    const next = reader.read();
    const raced = await Promise.race([next.then(() => 'data'), new Promise((r) => setTimeout(() => r('idle'), 200))]);
    expect(raced).toBe('idle');
    controller.abort();
    await next.catch(() => {});
    await waitFor(() => upstream.aborted === 1);
  });

  it('serves the queue in order, then 599 when it is empty', async () => {
    upstream.enqueue('anthropic-passthrough/count-tokens.json', 'openai-passthrough/model.json');
    expect(await (await post('/v1/messages/count_tokens', {})).json()).toEqual({ input_tokens: 2095 });
    const model = await fetch(`${upstream.url}/v1/models/gpt-4.1-2025-04-14`);
    expect(await model.json()).toMatchObject({ object: 'model', id: 'gpt-4.1-2025-04-14' });
    const empty = await post('/v1/responses', {});
    expect(empty.status).toBe(599);
    expect(await empty.json()).toEqual({ error: { message: 'no fixture queued', type: 'replay_upstream_error' } });
    expect(upstream.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/messages/count_tokens',
      'GET /v1/models/gpt-4.1-2025-04-14',
      'POST /v1/responses',
    ]);
    expect(upstream.requests[1]!.json).toBeUndefined();
  });

  it('serves the default fixture when the queue is empty', async () => {
    upstream.setDefault('openai-responses/text.json');
    upstream.enqueue('openai-responses/refusal.json');
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push(await (await post('/v1/responses', {})).json());
    expect(bodies.map((b) => b.output[0].content[0].type)).toEqual(['refusal', 'output_text', 'output_text']);
  });

  it('rejects unknown fixtures when they are queued', () => {
    expect(() => upstream.enqueue('openai-chat/nope.json')).toThrow();
  });
});
