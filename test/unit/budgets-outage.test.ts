/**
 * Budgets while the store cannot answer (SPEC §13, §15): the bridge fails open — a store
 * outage must not lock everyone out — but it neither asks the dead store again on every
 * request (each ask waits out the driver's timeout) nor lets a member spend without limit:
 * what this replica records meanwhile still counts against the budget.
 */
import { describe, expect, it } from 'vitest';
import { Budgets } from '../../src/budgets/budgets.ts';
import type { Config } from '../../src/config/config.ts';
import type { User } from '../../src/identity/users.ts';
import type { Store } from '../../src/store/store.ts';

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
const config = { budgets: { member: { usd: 1, period: 'day' } } } as unknown as Config;

/** A store whose spend query answers `spent` until `down` is set, then fails. */
function fakeStore(spent: number) {
  const state = { down: false, asked: 0 };
  const store = {
    audit: {
      spend: async () => {
        state.asked++;
        if (state.down) throw new Error('server selection timed out');
        return spent;
      },
    },
  } as unknown as Store;
  return { store, state };
}

describe('budgets during a store outage', () => {
  it('fail open for a user never counted, but count what this replica records and refuse past the limit', async () => {
    const { store, state } = fakeStore(0);
    state.down = true;
    const budgets = new Budgets(store, () => config, { refreshMs: 5_000 });
    const t0 = new Date('2026-06-01T12:00:00Z');
    expect(await budgets.check(member, t0)).toBeNull(); // fail open
    budgets.noteCost(member._id, 0.6);
    expect(await budgets.check(member, new Date(t0.getTime() + 100))).toBeNull();
    budgets.noteCost(member._id, 0.6);
    const refused = await budgets.check(member, new Date(t0.getTime() + 200));
    expect(refused?.spent).toBeCloseTo(1.2, 9);
  });

  it('ask the dead store at most once per refresh interval, not on every request', async () => {
    const { store, state } = fakeStore(0.25);
    const budgets = new Budgets(store, () => config, { refreshMs: 5_000 });
    const t0 = new Date('2026-06-01T12:00:00Z').getTime();
    expect(await budgets.check(member, new Date(t0))).toBeNull();
    expect(state.asked).toBe(1);
    state.down = true;
    for (let i = 1; i <= 20; i++) await budgets.check(member, new Date(t0 + 5_000 + i * 10));
    expect(state.asked).toBe(2);
    await budgets.check(member, new Date(t0 + 10_500));
    expect(state.asked).toBe(3);
    // What was known stays: 0.25 stored plus what was recorded here since.
    budgets.noteCost(member._id, 0.8);
    expect((await budgets.check(member, new Date(t0 + 10_600)))?.spent).toBeCloseTo(1.05, 9);
    // Back up: the store's figure replaces the guess.
    state.down = false;
    expect(await budgets.check(member, new Date(t0 + 16_000))).toBeNull();
    expect(state.asked).toBe(4);
  });
});
