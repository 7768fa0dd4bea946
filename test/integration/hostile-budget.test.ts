/**
 * A member whose budget cannot pay for a call (README "Cost and budgets") gets nothing from the
 * upstream that costs money, whichever route they take: a compaction runs a model, so it is
 * recorded, costed and budgeted like any call.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

const PRICING = [{ model: 'claude-test-*', input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 }];

let h: Harness;
beforeAll(async () => {
  h = await startHarness('hostile-budget', {
    pricing: PRICING,
    budgets: { member: { usd: 0.000001, period: 'day' } },
  });
});
afterAll(async () => {
  await h?.close();
});

describe('a member over budget', () => {
  it('cannot spend through POST /v1/responses/compact (a route that runs a model)', async () => {
    h.upstream.setDefault('anthropic-messages/cached.json');
    const refused = await h.anthropic.messages
      .create({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError); // the bridged route is budgeted

    h.upstream.reset();
    h.upstream.setDefault('openai-passthrough/model.json');
    for (const root of ['', '/api/v2/aibridge']) {
      const res = await fetch(`${h.bridge.url}${root}/openai/v1/responses/compact`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-5.4', input: [{ role: 'user', content: 'a long conversation…' }] }),
      });
      expect(res.status, root).toBe(429);
      const body = (await res.json()) as { error: { type: string; message: string } };
      expect(body.error.message).toMatch(/budget of \$0\.000001\/day would be exceeded for dev/);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(h.upstream.requests.filter((r) => r.path.includes('/compact'))).toEqual([]);

    // Reads that cost nothing still pass.
    const models = await fetch(`${h.bridge.url}/openai/v1/models/gpt-test-1`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(models.status).toBe(200);
  });
});

describe('a budget lowered mid-period', () => {
  it('refuses the next call at once, though this process held an allowance under the old budget', async () => {
    h.upstream.reset();
    h.upstream.setDefault('anthropic-messages/cached.json');
    const owner = (await h.bridge.user('boss', 'owner')).token;
    const setBudget = async (usd: number) => {
      const res = await fetch(`${h.bridge.url}/api/v2/aibridge/users/dev`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
        body: JSON.stringify({ budget: { usd, period: 'day' } }),
      });
      expect(res.status).toBe(200);
    };
    const call = () =>
      h.anthropic.messages
        .create({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
        .then(
          () => 200,
          (e: { status?: number }) => e.status,
        );
    await setBudget(100);
    expect(await call()).toBe(200); // the process now holds a share of $100
    await setBudget(0);
    const before = h.upstream.requests.length;
    expect(await Promise.all(Array.from({ length: 5 }, call))).toEqual([429, 429, 429, 429, 429]);
    expect(h.upstream.requests.length).toBe(before);
  });
});
