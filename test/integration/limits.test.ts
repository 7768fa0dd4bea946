import { request as httpRequest } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('limits', {
    limits: {
      body_bytes: 4096,
      max_concurrent_interceptions: 1,
      user_requests_per_minute: 600,
      max_header_bytes: 4096,
      breaker_threshold: 2,
      breaker_cooldown: '1s',
    },
  });
});
afterAll(() => h.close());
beforeEach(() => h.upstream.reset());

const ask = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('limits', () => {
  it('refuses a declared oversized body with 413 in the provider format, before reading it', async () => {
    const status = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${h.bridge.url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': h.token, 'content-type': 'application/json', 'content-length': '1000000' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"model":'); // far less than declared: the answer must not wait for the rest
    });
    expect(status.code).toBe(413);
    expect(JSON.parse(status.body)).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('answers 431 to oversized headers', async () => {
    const res = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-padding': 'x'.repeat(8000) },
    });
    expect(res.status).toBe(431);
  });

  it('answers 503 with retry-after above the concurrency limit', async () => {
    h.upstream.enqueue('openai-chat/hang.sse');
    const controller = new AbortController();
    const first = h.openai.chat.completions.create(
      { model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: controller.signal },
    );
    await waitUntil(() => h.upstream.requests.length === 1);
    const second = await h.openai.chat.completions
      .create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'y' }] })
      .catch((e) => e);
    expect(second).toBeInstanceOf(OpenAI.APIError);
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    controller.abort();
    await first.catch(() => {});
    await h.records();
  });

  it('opens the circuit after consecutive upstream failures, then probes and closes', async () => {
    h.upstream.enqueue('anthropic-messages/http-500.json', 'anthropic-messages/http-529.json');
    for (let i = 0; i < 2; i++) await h.anthropic.messages.create(ask).catch(() => {});
    const refused = await h.anthropic.messages.create(ask).catch((e) => e);
    expect(refused).toBeInstanceOf(Anthropic.APIError);
    expect(refused.status).toBe(503);
    expect(refused.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(h.upstream.requests).toHaveLength(2);
    const breaker = h.bridge.ctx.providers.find((p) => p.name === 'anthropic')!.breakers.for('claude-test-1');
    expect(breaker).toMatchObject({ state: 'open', trips: 1 });

    await new Promise((r) => setTimeout(r, 1_100));
    h.upstream.enqueue('anthropic-messages/text.json');
    const probe = await h.anthropic.messages.create(ask);
    expect(probe.stop_reason).toBe('end_turn');
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 4; i++) await h.records();
  });
});

describe('per-user rate limit', () => {
  it('answers 429 with retry-after once a user exceeds the rate', async () => {
    const limited = await startHarness('limits-rate', { limits: { user_requests_per_minute: 2 } });
    try {
      limited.upstream.setDefault('openai-chat/text.json');
      const chat = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'x' }] };
      await limited.openai.chat.completions.create(chat);
      await limited.openai.chat.completions.create(chat);
      const err = await limited.openai.chat.completions.create(chat).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(limited.upstream.requests).toHaveLength(2);

      // Routes passed through reach the upstream on the bridge's key too: they count, in their provider's format.
      const counted = await fetch(`${limited.bridge.url}/anthropic/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': limited.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-test-1', messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(counted.status).toBe(429);
      expect(((await counted.json()) as { type: string; error: { type: string } }).error.type).toBe('rate_limit_error');
      expect(Number(counted.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const models = await limited.openai.models.list().catch((e) => e);
      expect(models).toBeInstanceOf(OpenAI.RateLimitError);
      expect(limited.upstream.requests).toHaveLength(2);
    } finally {
      await limited.close();
    }
  });
});
