import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../../src/limits/admission.ts';

describe('concurrency limit', () => {
  it('gives each of --workers N its share of the configured cap, rounded up; 0 stays no cap', () => {
    expect(new ConcurrencyLimit(100).max).toBe(100);
    expect(new ConcurrencyLimit(100, 2).max).toBe(50);
    expect(new ConcurrencyLimit(5, 2).max).toBe(3);
    expect(new ConcurrencyLimit(0, 4).max).toBe(0);
    const limit = new ConcurrencyLimit(3, 2);
    expect([limit.tryAcquire(), limit.tryAcquire(), limit.tryAcquire()]).toEqual([true, true, false]);
  });

  it('counts the requests still running under the limit a reload replaced', () => {
    const before = new ConcurrencyLimit(4);
    for (let i = 0; i < 4; i++) before.tryAcquire();
    const after = new ConcurrencyLimit(5, 1, before);
    expect([after.tryAcquire(), after.tryAcquire()]).toEqual([true, false]);
    before.release(); // one of the old requests ends, on the limit it started under
    expect(after.tryAcquire()).toBe(true);
    expect(after.active).toBe(5);
  });
});
