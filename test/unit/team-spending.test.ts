/**
 * A member's call must fit their own budget and each of their teams' (README "Teams"): the
 * reservation is taken from every budget or from none — when one refuses, what the others gave
 * is given back — and the refusal names the budget that refused. Notifications watch each
 * budget's spend as the quotas learn it.
 */
import { describe, expect, it } from 'vitest';
import { Budgets } from '../../src/budgets/budgets.ts';
import type { BudgetScope } from '../../src/budgets/scope.ts';
import type { Config } from '../../src/config/config.ts';
import type { User } from '../../src/identity/users.ts';
import { Quotas } from '../../src/limits/quota.ts';
import { applyGrant, applySettle, type LedgerState, type QuotaLedger } from '../../src/store/ledger.ts';
import type { Budget, Store, TeamDoc } from '../../src/store/store.ts';
import { output } from '../helpers/cost-hints.ts';

const user = (id: string, budget: Budget | null = null): User => ({
  _id: id,
  username: id,
  name: id,
  role: 'member',
  created_at: new Date(0),
  disabled_at: null,
  deleted_at: null,
  budget,
  denied_servers: [],
});
const team = (id: string, budget: Budget | null): TeamDoc => ({
  _id: id,
  name: id,
  name_key: id,
  created_at: new Date(0),
  budget,
  sso: false,
});

const config = { budgets: { unpriced: 'refuse' } } as unknown as Config;
const price = { input: 0, output: 100_000 }; // $0.10 per output token: max_tokens n reserves $n/10

function setUp(teamsOf: Record<string, TeamDoc[]>) {
  const docs = new Map<string, LedgerState>();
  const ledger: QuotaLedger = {
    async grant(r) {
      const next = applyGrant(docs.get(r.key) ?? null, r);
      docs.set(r.key, next.state);
      return next.grant;
    },
    async settle(r) {
      const next = applySettle(docs.get(r.key) ?? null, r);
      docs.set(r.key, next);
      return next.spent;
    },
  };
  const seen: Array<{ scope: string; spent: number }> = [];
  let budgets: Budgets | undefined;
  const quotas = new Quotas({ ledger, holder: 'p', flushMs: 60_000, onSpent: (k, s) => budgets?.spentSeen(k, s) });
  const store = { audit: { spend: async () => 0, usage: async () => [] }, teams: { members: async () => [] } };
  budgets = new Budgets(store as unknown as Store, () => config, quotas, {
    teamsOf: async (id) => teamsOf[id] ?? [],
    notifier: { observe: (scope: BudgetScope, _w: unknown, spent: number) => seen.push({ scope: scope.name, spent }) },
  });
  return { budgets, quotas, seen };
}

describe('a call that must fit a user’s budget and their team’s', () => {
  it('takes from both, or gives back what one took when the other refuses', async () => {
    const red = team('red', { usd: 1, period: 'day' });
    const teams: Record<string, TeamDoc[]> = { ann: [red], ben: [red] };
    const { budgets, quotas } = setUp(teams);
    const ann = user('ann', { usd: 1.2, period: 'day' });
    const first = await budgets.spending(ann, 'm', price);
    expect(await first?.reserve(0, output(6))).toBeNull(); // $0.60 of ann's $1.20 and of red's $1
    const second = await budgets.spending(ann, 'm', price);
    const refused = await second?.reserve(0, output(6));
    expect(refused).toMatchObject({ reason: 'budget', scope: { kind: 'team', name: 'red' } });
    // ben, in red with no budget of his own, has red's last $0.40.
    const ben = await budgets.spending(user('ben'), 'm', price);
    expect(await ben?.reserve(0, output(4))).toBeNull();
    expect(await ben?.reserve(0, output(1))).toMatchObject({ reason: 'budget', scope: { name: 'red' } });
    // ann's own budget got back the $0.60 the refused call had taken from it: out of red, she has $0.60 left.
    teams.ann = [];
    const outOfRed = await budgets.spending(ann, 'm', price);
    expect(await outOfRed?.reserve(0, output(6))).toBeNull();
    expect(await outOfRed?.reserve(0, output(1))).toMatchObject({
      reason: 'budget',
      scope: { kind: 'user', name: 'ann' },
    });
    await quotas.close();
  });

  it('needs no team budget for a team without one, and none at all for a user with no budget anywhere', async () => {
    const { budgets, quotas } = setUp({ cy: [team('blue', null)] });
    expect(await budgets.spending(user('cy'), 'm', price)).toBeNull();
    await quotas.close();
  });

  it('tells the notifier each budget’s spend as it is settled', async () => {
    const red = team('red', { usd: 1, period: 'day' });
    const { budgets, quotas, seen } = setUp({ ann: [red] });
    const spending = await budgets.spending(user('ann', { usd: 2, period: 'day' }), 'm', price);
    await spending?.reserve(0, output(8));
    spending?.answered(true);
    spending?.settle(0.8);
    expect(
      seen
        .filter((s) => s.spent === 0.8)
        .map((s) => s.scope)
        .sort(),
    ).toEqual(['ann', 'red']);
    await quotas.close();
  });
});
