import { describe, expect, it } from 'vitest';
import { Quotas } from '../../src/limits/quota.ts';
import { applyGrant, applySettle, type LedgerState, type QuotaLedger } from '../../src/store/ledger.ts';

/** The ledger's contract in memory, with a delay so store calls really interleave. */
class MemoryLedger implements QuotaLedger {
  readonly docs = new Map<string, LedgerState>();
  calls = 0;
  failing = false;
  async grant(r: Parameters<QuotaLedger['grant']>[0]) {
    this.calls++;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.failing) throw new Error('store down');
    const { state, grant } = applyGrant(this.docs.get(r.key) ?? null, r);
    this.docs.set(r.key, state);
    return grant;
  }
  async settle(r: Parameters<QuotaLedger['settle']>[0]) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.failing) throw new Error('store down');
    const next = applySettle(this.docs.get(r.key) ?? null, r);
    this.docs.set(r.key, next);
    return next.spent;
  }
}

const quotas = (ledger: QuotaLedger, holder: string, now?: () => number) =>
  new Quotas({ ledger, holder, flushMs: 60_000, now });

describe('a quota shared through the store', () => {
  it('admits no more than the limit to 60 calls at once, in one process', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    const results = await Promise.all(Array.from({ length: 60 }, () => q.reserve('u', 3, 1.5, 0, 1.5)));
    const admitted = results.filter((r) => r.ok);
    expect(admitted).toHaveLength(2);
    const refused = results.find((r) => !r.ok);
    expect(refused).toMatchObject({ ok: false, spent: 0 });
    await q.close();
  });

  it('admits no more than the limit across processes sharing a ledger', async () => {
    const ledger = new MemoryLedger();
    const processes = ['a', 'b', 'c', 'd'].map((h) => quotas(ledger, h));
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (processes[i % 4] as Quotas).reserve('u', 10, 1, 0, 2)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    await Promise.all(processes.map((p) => p.close()));
  });

  it('keeps every settled amount and gives its allowance back when the limit changes with calls in flight', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    const first = await q.reserve('u', 10, 4, 0, 4);
    const second = await q.reserve('u', 20, 1, 0, 1); // a new budget, the same period
    if (!first.ok || !second.ok) throw new Error('both fit');
    first.ticket.settle(4);
    second.ticket.settle(1);
    await q.close();
    expect(ledger.docs.get('u')?.spent).toBe(5);
    expect(ledger.docs.get('u')?.holds).toEqual({});
  });

  it('stops at once when the limit is lowered, even to 0, though this process held an allowance under the old one', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    const first = await q.reserve('u', 100, 1, 0, 10); // holds 10 of 100
    if (!first.ok) throw new Error('fits');
    first.ticket.settle(1);
    expect(await q.reserve('u', 0, 1, 0, 10)).toMatchObject({ ok: false });
    // 1 spent: 2 more fit under 3, whatever was held before.
    const lowered = await Promise.all([1, 2, 3].map(() => q.reserve('u', 3, 1, 0, 10)));
    expect(lowered.map((r) => r.ok)).toEqual([true, true, false]);
    await q.close();
  });

  it('takes from its allowance without asking the store while it lasts', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    for (let i = 0; i < 10; i++) {
      const r = await q.reserve('u', 100, 1, 0, 10);
      expect(r.ok).toBe(true);
      if (r.ok) r.ticket.settle(1);
    }
    expect(ledger.calls).toBe(1);
    await q.close();
  });

  it('gives back what a call did not spend, and counts what it did', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    const first = await q.reserve('u', 3, 3, 0);
    expect(first.ok).toBe(true);
    if (first.ok) first.ticket.settle(0.5);
    await q.flush();
    expect(ledger.docs.get('u')?.spent).toBe(0.5);
    expect((await q.reserve('u', 3, 2.5, 0)).ok).toBe(true);
    expect((await q.reserve('u', 3, 0.1, 0)).ok).toBe(false);
    await q.close();
  });

  it("lets another process have a dead holder's allowance once it expires", async () => {
    let now = 1_000_000;
    const ledger = new MemoryLedger();
    const dead = quotas(ledger, 'dead', () => now);
    expect((await dead.reserve('u', 2, 2, 0)).ok).toBe(true); // held, never settled
    const alive = quotas(ledger, 'alive', () => now);
    expect((await alive.reserve('u', 2, 1, 0)).ok).toBe(false);
    now += 31_000;
    expect((await alive.reserve('u', 2, 1, 0)).ok).toBe(true);
    await alive.close();
  });

  it('starts a new ledger at the recorded spend', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    const r = await q.reserve('u', 5, 1, 4.5);
    expect(r).toMatchObject({ ok: false, spent: 4.5 });
    await q.close();
  });

  it('lets calls through on what it knows while the store is down, and not beyond the limit', async () => {
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a');
    ledger.failing = true;
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await q.reserve('u', 3, 1, 0));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false, false]);
    await q.close();
  });

  it('gives an idle allowance back', async () => {
    let now = 0;
    const ledger = new MemoryLedger();
    const q = quotas(ledger, 'a', () => now);
    const r = await q.reserve('u', 10, 1, 0, 5);
    if (r.ok) r.ticket.settle(1);
    now += 6_000;
    await q.flush();
    expect(ledger.docs.get('u')?.holds).toEqual({});
    expect(ledger.docs.get('u')?.spent).toBe(1);
    await q.close();
  });
});
