/**
 * The model name is the one free-text field of a request the bridge keeps for itself: it is
 * recorded on the interception, keys a circuit breaker (kept until 1 000 exist) and labels
 * metrics. A member sending a 5 MB "model" must get a 400 in the provider's format — not an
 * interception whose every audit page carries 5 MB (past MongoDB's 16 MB document limit, one
 * the store refuses, so the request vanishes from the audit log), nor 5 MB kept per breaker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('hostile-model-name');
});
afterAll(async () => {
  await h?.close();
});

const ROUTES = [
  [
    '/anthropic/v1/messages',
    (model: string) => ({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  ],
  ['/openai/v1/chat/completions', (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
  ['/openai/v1/responses', (model: string) => ({ model, input: 'hi' })],
] as const;

const post = (path: string, body: unknown) =>
  fetch(`${h.bridge.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('a model name longer than any real one', () => {
  it('is a 400 in the provider’s format, never forwarded, recorded or kept', async () => {
    const huge = `claude-${'x'.repeat(5_000_000)}`;
    for (const [path, body] of ROUTES) {
      for (const model of [huge, 'm'.repeat(513)]) {
        const res = await post(path, body(model));
        expect(res.status, path).toBe(400);
        const text = await res.text();
        expect(text.length).toBeLessThan(1_000);
        expect(text).toContain('model: a model name is at most 512 characters');
      }
    }
    expect(h.upstream.requests).toHaveLength(0);
    await h.bridge.ctx.recorder.flush();
    expect(await h.store.audit.count({})).toBe(0);
    for (const provider of h.bridge.ctx.providers) {
      for (const key of provider.breakers.breakers.keys()) expect(key.length).toBeLessThanOrEqual(512);
    }
  });

  it('up to 512 characters (a Bedrock ARN, a fine-tune id) is passed on as before', async () => {
    h.upstream.setDefault('anthropic-messages/text.json');
    const res = await post('/anthropic/v1/messages', ROUTES[0][1]('m'.repeat(512)));
    expect(res.status).toBe(200);
  });
});
