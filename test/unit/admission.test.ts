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
});
