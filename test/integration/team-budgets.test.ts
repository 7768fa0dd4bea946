/**
 * Team budgets (README "Teams"): two members of one team, on two replicas sharing one store,
 * send 60 requests at once; together they stop at the team's budget (here each call's
 * reservation is its exact cost, so the bound is the budget itself), and the notifications at
 * 80 % and 100 % reach a local webhook once each — the first after a refused delivery.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { BudgetWebhook } from '../helpers/budget-webhook.ts';
import { STORE_KINDS, type TestStore, testStore } from '../helpers/db.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/** $0.15 per output token, nothing for input: `anthropic-messages/text.json` answers 12 output tokens, $1.80. */
const PRICING = [{ model: 'claude-test-*', input: 0, output: 150_000 }];
const CALL_USD = 12 * 0.15;
const TEAM_BUDGET = 10 * CALL_USD;

describe.each(STORE_KINDS)('a team budget shared by two members on two replicas (%s store)', (kind) => {
  let store: TestStore;
  let upstream: ReplayUpstream;
  let hook: BudgetWebhook;
  let a: TestBridge;
  let b: TestBridge;
  let owner: string;
  const people: Record<string, { id: string; token: string }> = {};

  beforeAll(async () => {
    store = await testStore(kind, `team-budgets-${kind}`);
    upstream = await ReplayUpstream.start();
    upstream.keepRequests = false;
    upstream.setDefault('anthropic-messages/text.json');
    hook = await BudgetWebhook.start();
    const config = {
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
      pricing: PRICING,
      budgets: { notify: [0.8, 1], webhook: hook.url },
    };
    a = await startTestBridge(store, config);
    b = await startTestBridge(store, config);
    owner = a.bootstrap?.token as string;
    people.dev = await a.user('dev');
    people.alice = await a.user('alice');
    people.carol = await a.user('carol'); // in no team: unlimited
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await hook?.close();
    await store?.close();
  });

  const api = async (bridge: TestBridge, method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${bridge.url}/api/v2/aibridge${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const ask = (bridge: TestBridge, token: string) =>
    new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: token, maxRetries: 0 }).messages.create({
      model: 'claude-test-1',
      max_tokens: 12,
      messages: [{ role: 'user', content: 'hi' }],
    });

  it('stops both members at the team’s budget, and notifies at 80 % and 100 % once each', async () => {
    const made = await api(a, 'POST', '/teams', owner, { name: 'red', budget: { usd: TEAM_BUDGET, period: 'day' } });
    expect(made.status).toBe(201);
    for (const who of ['dev', 'alice'])
      expect((await api(a, 'PUT', `/teams/red/members/${who}`, owner)).status).toBe(204);
    hook.failNext = 1; // the first delivery is refused: the bridge retries

    const calls = [
      ...Array.from({ length: 30 }, () => ask(a, people.dev!.token)),
      ...Array.from({ length: 30 }, () => ask(b, people.alice!.token)),
    ];
    const results = await Promise.allSettled(calls);
    const refused = results.filter((r) => r.status === 'rejected' && r.reason instanceof Anthropic.RateLimitError);
    const other = results.filter((r) => r.status === 'rejected' && !(r.reason instanceof Anthropic.RateLimitError));
    expect(other.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.length - refused.length).toBe(10);
    expect(String((refused[0] as PromiseRejectedResult).reason.message)).toMatch(/for team red/);

    for (const bridge of [a, b]) await bridge.ctx.recorder.flush();
    const spend = await api(a, 'GET', '/teams/red/spend', owner);
    expect(spend.body.spent_usd).toBeCloseTo(TEAM_BUDGET, 9);
    expect(spend.body.spent_usd).toBeLessThanOrEqual(TEAM_BUDGET + 1e-9);
    // carol, in no team, is not held by red's budget.
    await expect(ask(a, people.carol!.token)).resolves.toBeDefined();

    // Every replica writes what it settled (the ledger then tells each the team's total) and sends what it claimed.
    for (const bridge of [a, b]) await bridge.ctx.quotas.flush();
    for (const bridge of [a, b]) await bridge.ctx.notifications.notifier.settled();
    for (const bridge of [a, b]) await bridge.ctx.notifications.webhook.settled();
    expect(hook.counts).toEqual({ failed: 1, malformed: 0 });
    const shares = hook.received.map((n) => n.share).sort();
    expect(shares).toEqual([0.8, 1]);
    const team = (await store.teams.byName('red'))!;
    for (const n of hook.received) {
      expect(n).toMatchObject({
        type: 'budget_notification',
        scope: { kind: 'team', id: team._id, name: 'red' },
        budget: { usd: TEAM_BUDGET, period: 'day' },
      });
      expect(n.spent_usd).toBeGreaterThanOrEqual(n.share * TEAM_BUDGET - 1e-9);
    }
    const counted = async (share: string) => {
      let n = 0;
      for (const bridge of [a, b]) {
        const text = await fetch(`${bridge.url}/metrics`).then((r) => r.text());
        n += parsePrometheus(text).value('aibridge_budget_notifications_total', { share });
      }
      return n;
    };
    expect(await counted('0.8')).toBe(1);
    expect(await counted('1')).toBe(1);
    const logged = [a, b].flatMap((bridge) =>
      bridge.logs.lines.filter((l) => l.includes('budget notification: team red reached')),
    );
    expect(logged).toHaveLength(2);
    expect(logged.join('\n')).not.toContain('s3cret');

    // The console's banner: members of the team see both; carol sees none.
    const forDev = await api(b, 'GET', '/notifications', people.dev!.token);
    expect(forDev.body.results.map((n: { share: number }) => n.share)).toEqual([1, 0.8]);
    expect((await api(b, 'GET', '/notifications', people.carol!.token)).body.results).toEqual([]);
  });
});
