import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HOP_HEADER, HOP_ID } from '../../src/providers/hop.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';
import { parsePrometheus, type Scrape } from '../helpers/prometheus.ts';

const COOLDOWN_MS = 300;
const PER_MINUTE = 3;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('refusals', {
    limits: {
      body_bytes: 4096,
      max_header_bytes: 4096,
      max_concurrent_interceptions: 1,
      user_requests_per_minute: PER_MINUTE,
      breaker_threshold: 1,
      breaker_cooldown: `${COOLDOWN_MS}ms`,
    },
  });
});
afterAll(() => h.close());
beforeEach(() => h.upstream.reset());

const ASK = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };

async function scrape(): Promise<Scrape> {
  return parsePrometheus(await (await fetch(`${h.bridge.url}/metrics`)).text());
}

/** POSTs to the Messages route with `token` (none: no credentials). */
async function post(token: string | undefined, body: unknown = ASK, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      ...(token ? { 'x-api-key': token } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `act`, then returns how much each `reason` of `provider` grew by. */
async function refusedDuring(act: () => Promise<unknown>, provider = 'anthropic'): Promise<Record<string, number>> {
  const before = await scrape();
  await act();
  const after = await scrape();
  const grown: Record<string, number> = {};
  for (const s of after.samples.filter((s) => s.name === 'aibridge_refused_requests_total')) {
    if (s.labels.provider !== provider) continue;
    const delta = s.value - before.value(s.name, s.labels);
    if (delta) grown[s.labels.reason as string] = delta;
  }
  return grown;
}

describe('aibridge_refused_requests_total', () => {
  it('counts missing and invalid credentials as unauthenticated', async () => {
    const grown = await refusedDuring(async () => {
      expect(await post(undefined)).toBe(401);
      expect(await post('not-a-bridge-token')).toBe(401);
    });
    expect(grown).toEqual({ unauthenticated: 2 });
  });

  it('counts unknown routes as not_found, under their provider or under none', async () => {
    const under = await refusedDuring(async () => {
      expect((await fetch(`${h.bridge.url}/anthropic/v1/nope`, { headers: { 'x-api-key': h.token } })).status).toBe(
        404,
      );
    });
    expect(under).toEqual({ not_found: 1 });
    const nowhere = await refusedDuring(async () => {
      expect((await fetch(`${h.bridge.url}/nowhere`)).status).toBe(404);
    }, 'none');
    expect(nowhere).toEqual({ not_found: 1 });
  });

  it('counts an oversized body or header block as too_large', async () => {
    const grown = await refusedDuring(async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${h.bridge.url}/anthropic/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': h.token, 'content-type': 'application/json', 'content-length': '100000' },
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.write('{"model":');
      });
      expect(status).toBe(413);
      const headers = { 'x-api-key': h.token, 'x-padding': 'x'.repeat(8000) };
      expect((await fetch(`${h.bridge.url}/anthropic/v1/messages`, { method: 'POST', headers })).status).toBe(431);
    });
    expect(grown).toEqual({ too_large: 2 });
  });

  it('counts unusable bodies as bad_request and a looped request as loop', async () => {
    const user = await h.bridge.user('shapeless');
    const grown = await refusedDuring(async () => {
      expect(await post(user.token, { model: 'claude-test-1' })).toBe(400);
      expect(await post(user.token, ASK, { [HOP_HEADER]: HOP_ID })).toBe(508);
    });
    expect(grown).toEqual({ bad_request: 1, loop: 1 });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('counts the request past a user’s rate as rate_limited', async () => {
    const user = await h.bridge.user('hasty');
    const grown = await refusedDuring(async () => {
      // Bodies the bridge refuses itself still spend the user's rate; the one after them is refused for it.
      for (let i = 0; i < PER_MINUTE; i++) expect(await post(user.token, {})).toBe(400);
      expect(await post(user.token)).toBe(429);
    });
    expect(grown).toEqual({ bad_request: PER_MINUTE, rate_limited: 1 });
  });

  it('counts a request past the concurrency limit as overloaded', async () => {
    const user = await h.bridge.user('crowded');
    h.upstream.enqueue('anthropic-messages/hang.sse');
    const controller = new AbortController();
    const hanging = fetch(`${h.bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': user.token },
      body: JSON.stringify({ ...ASK, stream: true }),
      signal: controller.signal,
    }).then((res) => res.arrayBuffer());
    await waitUntil(() => h.upstream.requests.length === 1);
    const grown = await refusedDuring(async () => expect(await post(h.token)).toBe(503));
    controller.abort();
    await hanging.catch(() => {});
    await h.records();
    expect(grown).toEqual({ overloaded: 1 });
  });
});

describe('circuit breaker metrics', () => {
  const breaker = { provider: 'anthropic', model: 'claude-test-1' };

  it('show a circuit tripping (circuit_open refusals, state 2) and recovering after one probe (state 0)', async () => {
    const user = await h.bridge.user('unlucky');
    const start = await scrape();
    const transitions = (s: Scrape, to: string) =>
      s.value('aibridge_circuit_breaker_transitions_total', { provider: 'anthropic', to }) -
      start.value('aibridge_circuit_breaker_transitions_total', { provider: 'anthropic', to });

    h.upstream.enqueue('anthropic-messages/http-500.json');
    const tripped = await refusedDuring(async () => {
      expect(await post(user.token)).toBe(500); // the upstream's own answer: not a refusal, but it opens the circuit
      expect(await post(user.token)).toBe(503); // refused at once, never sent
    });
    expect(tripped).toEqual({ circuit_open: 1 });
    expect(h.upstream.requests).toHaveLength(1);
    const open = await scrape();
    expect(open.value('aibridge_circuit_breaker_state', breaker)).toBe(2);
    expect(['open', 'half_open', 'closed'].map((to) => transitions(open, to))).toEqual([1, 0, 0]);

    await sleep(COOLDOWN_MS + 50); // past the cooldown, the next request is the probe
    h.upstream.enqueue('anthropic-messages/text.json');
    expect(await post(user.token)).toBe(200);
    const closed = await scrape();
    expect(closed.value('aibridge_circuit_breaker_state', breaker)).toBe(0);
    expect(['open', 'half_open', 'closed'].map((to) => transitions(closed, to))).toEqual([1, 1, 1]);
    expect(closed.types.get('aibridge_circuit_breaker_state')).toBe('gauge');
  });

  it('every provider has its transition series from the start, at 0 until its circuits move', async () => {
    const s = await scrape();
    for (const to of ['open', 'half_open', 'closed'])
      expect(
        s.samples.some(
          (x) =>
            x.name === 'aibridge_circuit_breaker_transitions_total' &&
            x.labels.provider === 'openai' &&
            x.labels.to === to,
        ),
      ).toBe(true);
    expect(s.value('aibridge_circuit_breaker_transitions_total', { provider: 'openai' })).toBe(0);
  });
});
