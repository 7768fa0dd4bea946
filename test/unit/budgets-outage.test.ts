/**
 * Budgets while the store cannot answer (README "Cost and budgets"): the bridge fails open — a
 * store outage must not lock everyone out — but it neither asks the dead store again on every
 * request (each ask waits out the driver's timeout) nor lets a member spend without limit:
 * what this process reserves and spends meanwhile still counts against the budget.
 */
import { describe, expect, it } from 'vitest';
import { Budgets } from '../../src/budgets/budgets.ts';
import type { Config } from '../../src/config/config.ts';
import type { User } from '../../src/identity/users.ts';
import { Quotas } from '../../src/limits/quota.ts';
import { applyGrant, applySettle, type LedgerState, type QuotaLedger } from '../../src/store/ledger.ts';
import type { Store } from '../../src/store/store.ts';
import { output } from '../helpers/cost-hints.ts';

const member: User = {
  _id: 'u-member',
  username: 'mia',
  name: 'mia',
  role: 'member',
  created_at: new Date(0),
  disabled_at: null,
  deleted_at: null,
  budget: null,
  denied_servers: [],
};
const config = { budgets: { member: { usd: 1, period: 'day' }, unpriced: 'refuse' } } as unknown as Config;
const price = { input: 0, output: 100_000 }; // $0.10 per output token: a call with max_tokens n reserves $n/10

/** A store whose ledger works until `down` is set, then fails; `asked` counts the steps tried. */
function fakeStore(recorded: number) {
  const state = { down: false, asked: 0 };
  let doc: LedgerState | null = null;
  const ledger: QuotaLedger = {
    async grant(r) {
      state.asked++;
      if (state.down) throw new Error('server selection timed out');
      const next = applyGrant(doc, r);
      doc = next.state;
      return next.grant;
    },
    async settle(r) {
      if (state.down) throw new Error('server selection timed out');
      doc = applySettle(doc, r);
      return doc.spent;
    },
  };
  const store = { audit: { spend: async () => recorded } } as unknown as Store;
  return { store, ledger, state };
}

describe('budgets during a store outage', () => {
  it('fail open for a user never counted, but count what this process reserves and spends, and refuse past the limit', async () => {
    const { store, ledger, state } = fakeStore(0);
    state.down = true;
    const quotas = new Quotas({ ledger, holder: 'p', flushMs: 60_000 });
    const budgets = new Budgets(store, () => config, quotas);
    const first = await budgets.spending(member, 'm', price);
    expect(await first?.reserve(0, output(6))).toBeNull(); // fail open: $0.60 of $1
    first?.answered(true);
    first?.settle(0.6);
    const second = await budgets.spending(member, 'm', price);
    expect(await second?.reserve(0, output(6))).toMatchObject({ reason: 'budget', spent: 0.6 });
    await quotas.close();
  });

  it('ask the dead store at most once per retry interval, not on every request', async () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    const { store, ledger, state } = fakeStore(0.25);
    const quotas = new Quotas({ ledger, holder: 'p', flushMs: 60_000, now: () => now });
    const budgets = new Budgets(store, () => config, quotas);
    const reserve = async () => {
      const spending = await budgets.spending(member, 'm', price, new Date(now));
      const refused = await spending?.reserve(0, output(1));
      spending?.end();
      return refused;
    };
    expect(await reserve()).toBeNull();
    expect(state.asked).toBe(1); // the allowance (a tenth of the budget at least) covers the next calls
    state.down = true;
    now += 31_000; // the allowance lapsed in the ledger: the next call must ask
    for (let i = 0; i < 20; i++) await reserve();
    expect(state.asked).toBe(2);
    now += 5_500;
    await reserve();
    expect(state.asked).toBe(3);
    // Back up: the store's figure replaces the guess, and the ledger starts from the recorded $0.25.
    state.down = false;
    now += 5_500;
    expect(await reserve()).toBeNull();
    expect(state.asked).toBe(4);
    await quotas.close();
  });
});
