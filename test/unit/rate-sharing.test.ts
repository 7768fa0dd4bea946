import { afterAll, describe, expect, it } from 'vitest';
import { RateSharing, UserRateLimit } from '../../src/limits/admission.ts';
import { testEmbeddedStore } from '../helpers/db.ts';

const store = testEmbeddedStore('inline');
afterAll(() => store.close());

describe('a per-user rate limit shared by replicas', () => {
  it('counts the user’s requests on every replica in the current minute, and resets at the next', async () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 10);
    const a = new RateSharing(store.rates, 'replica-a');
    const b = new RateSharing(store.rates, 'replica-b');
    const limitA = new UserRateLimit(10, a);
    const limitB = new UserRateLimit(10, b);
    for (let i = 0; i < 6; i++) expect(limitA.take('alice', now)).toBe(0);
    expect(limitB.take('alice', now)).toBe(0); // B has not heard of A's six yet
    await a.sync(now);
    await b.sync(now);
    // Now it has: three more are allowed, then the minute is spent until it turns.
    for (let i = 0; i < 3; i++) expect(limitB.take('alice', now)).toBe(0);
    expect(limitB.take('alice', now)).toBe(50);
    await b.sync(now);
    await a.sync(now);
    expect(limitA.take('alice', now)).toBe(50); // and A hears of B's four
    expect(limitB.take('bob', now)).toBe(0); // another user is not affected
    const nextMinute = now + 60_000;
    await a.sync(nextMinute);
    await b.sync(nextMinute);
    expect(limitB.take('alice', nextMinute)).toBe(0);
  });

  it('stays a local limit while the store cannot be reached', async () => {
    const failing = {
      ...store.rates,
      others: () => Promise.reject(new Error('down')),
      publish: () => Promise.reject(new Error('down')),
    };
    const sharing = new RateSharing(failing, 'replica-c');
    const limit = new UserRateLimit(3, sharing);
    const now = Date.UTC(2026, 0, 1, 13, 0, 0);
    for (let i = 0; i < 3; i++) expect(limit.take('carol', now)).toBe(0);
    await sharing.sync(now);
    expect(limit.take('carol', now)).toBeGreaterThan(0);
  });
});
