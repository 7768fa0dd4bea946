import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';

let h: Harness;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  h = await startHarness('fuzz', { limits: { body_bytes: 2 * 1024 * 1024 } });
  // Whatever the bridge forwards gets a provider-style 4xx, so any 5xx below is the bridge's own.
  h.upstream.setDefault((r) =>
    r.path.includes('/messages') ? 'anthropic-messages/http-429.json' : 'openai-chat/http-429.json',
  );
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await h.close();
});

const ROUTES = [
  '/anthropic/v1/messages',
  '/openai/v1/chat/completions',
  '/openai/v1/responses',
  '/api/v2/aibridge/anthropic/v1/messages',
  '/anthropic/v1/messages/count_tokens',
];

/** Deterministic pseudo-random choices, so a failure replays the same way. */
function* bodies(): Generator<string | Buffer> {
  const values: unknown[] = [
    null,
    true,
    0,
    -1,
    1e308,
    '',
    'x'.repeat(200_000),
    [],
    {},
    [null],
    [1, 'a'],
    { role: 'user' },
    '\u0000\ud800',
  ];
  for (const value of values) {
    yield JSON.stringify(value);
    yield JSON.stringify({ model: 'm', messages: value, input: value });
    yield JSON.stringify({
      model: value,
      messages: [{ role: 'user', content: value }],
      input: [{ role: 'user', content: value }],
    });
    yield JSON.stringify({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      input: 'hi',
      tools: value,
      stream: value,
    });
    yield JSON.stringify({
      model: 'm',
      messages: [{ role: 'user', content: [value] }],
      input: [{ role: 'user', content: [value] }],
      stream_options: value,
      metadata: value,
    });
  }
  for (let i = 0; i < 20; i++) yield randomBytes(1 + ((i * 7919) % 4096));
  yield '{"model": "m", "messages": [';
  yield '{"model":"m","messages":[{"role":"user","content":"hi"}]}'.repeat(3);
}

describe('fuzzing every provider route', () => {
  it('answers malformed input with 4xx only and stays healthy', async () => {
    const statuses = new Map<number, number>();
    for (const route of ROUTES) {
      for (const body of bodies()) {
        const res = await fetch(`${h.bridge.url}${route}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : new Uint8Array(body),
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${route} ${String(body).slice(0, 80)} → ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${route} ${String(body).slice(0, 80)} → ${text.slice(0, 200)}`).toBeLessThan(500);
        expect(text).not.toMatch(/at .*\.ts:\d+|node:internal/); // no stack traces
      }
    }
    expect(statuses.get(400)).toBeGreaterThan(50);
    expect((await fetch(`${h.bridge.url}/healthz`)).status).toBe(200);
    expect(unhandled).toEqual([]);
  });

  it('answers bad audit queries with 4xx only', async () => {
    for (const q of [
      '::',
      'a:b:c',
      'started_after:yesterday',
      '"',
      'provider:"',
      `${'x'.repeat(10_000)}:y`,
      '\u0000',
      'limit:-1',
    ]) {
      for (const extra of ['', '&limit=0', '&limit=abc', '&offset=-5', '&after_id=nope&offset=1']) {
        const res = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions?q=${encodeURIComponent(q)}${extra}`, {
          headers: { authorization: `Bearer ${h.token}` },
        });
        expect(res.status, `${q} ${extra}`).toBeLessThan(500);
      }
    }
    expect(unhandled).toEqual([]);
  });
});

describe('clients that abort', () => {
  it('1000 aborted streams leave nothing in flight and every interception ended', async () => {
    h.upstream.setDefault('anthropic-messages/hang.sse');
    h.upstream.reset();
    const controllers = Array.from({ length: 1000 }, () => new AbortController());
    const started = controllers.map((controller) =>
      fetch(`${h.bridge.url}/anthropic/v1/messages`, {
        method: 'POST',
        signal: controller.signal,
        headers: { 'x-api-key': h.token, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((res) => res.body?.getReader().read()),
    );
    await Promise.all(started);
    expect(h.bridge.ctx.limits.concurrency.active).toBe(controllers.length);
    for (const controller of controllers) controller.abort();
    await waitUntil(() => h.bridge.ctx.limits.concurrency.active === 0, 20_000);
    await waitUntil(() => h.upstream.aborted === controllers.length, 20_000);
    await waitUntil(async () => {
      await h.bridge.ctx.recorder.flush();
      const failed = await h.store.audit.list({ status: 'failed' }, { limit: 1000 });
      return (
        failed.filter((d) => d.interception.metadata.error === 'client disconnected').length === controllers.length
      );
    }, 30_000);
    const connections = () => new Promise<number>((r) => h.bridge.app.server.getConnections((_e, n) => r(n)));
    await waitUntil(async () => (await connections()) < 5, 20_000);
  }, 150_000);
});
