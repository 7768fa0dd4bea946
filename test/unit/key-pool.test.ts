import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COOL_MS,
  failoverReason,
  KeyPool,
  type KeyPoolListener,
  retryAfterMs,
} from '../../src/providers/key-pool.ts';

/** A pool on a clock the test moves, with a listener that notes what it hears. */
function pool(size = 3) {
  let now = 1_000_000;
  const heard: string[] = [];
  const listener: KeyPoolListener = {
    failover: (reason) => heard.push(`failover:${reason}`),
    exhausted: () => heard.push('exhausted'),
    setAside: (index, status) => heard.push(`aside:${index}:${status}`),
  };
  const keys = Array.from({ length: size }, (_, i) => `k${i}`);
  const p = new KeyPool(keys, () => now);
  p.listen(listener);
  return { p, heard, advance: (ms: number) => (now += ms) };
}

describe('KeyPool', () => {
  it('hands the keys out in turn, skipping those a call already tried', () => {
    const { p } = pool();
    expect([p.take(), p.take(), p.take(), p.take()].map((k) => k?.index)).toEqual([0, 1, 2, 0]);
    expect(p.take(new Set([1]))?.index).toBe(2);
    expect(p.take(new Set([0, 1, 2]))).toBeUndefined();
  });

  it('keeps a cooling key out of turn until its time is up, and says how long the soonest one waits', () => {
    const { p, heard, advance } = pool();
    p.cool(0, 'rate_limited', 30_000);
    p.cool(1, 'server_error', 5_000);
    expect(p.counts()).toEqual({ active: 1, cooling: 2, refused: 0 });
    expect(p.wait()).toBe(5_000);
    expect([p.take(), p.take()].map((k) => k?.index)).toEqual([2, 2]);
    advance(5_000);
    expect(p.take()?.index).toBe(1);
    expect(heard).toEqual(['failover:rate_limited', 'failover:server_error']);
  });

  it('sets a refused key aside until restored, reporting it once however often it is refused', () => {
    const { p, heard } = pool(2);
    p.refuse(0, 401);
    p.refuse(0, 403);
    expect(heard).toEqual(['aside:0:401', 'failover:refused', 'failover:refused']);
    expect([p.take(), p.take()].map((k) => k?.index)).toEqual([1, 1]);
    p.refuse(1, 403);
    expect(p.wait()).toBeUndefined(); // nothing cooling: only set aside
    expect(p.take()).toBeUndefined();
    p.restore();
    expect(p.counts()).toEqual({ active: 2, cooling: 0, refused: 0 });
  });

  it('a longer cool-down is not shortened by a later, shorter one', () => {
    const { p, advance } = pool(1);
    p.cool(0, 'rate_limited', 60_000);
    p.cool(0, 'server_error', 1_000);
    advance(2_000);
    expect(p.take()).toBeUndefined();
  });
});

describe('retry-after', () => {
  it('reads retry-after-ms, seconds and HTTP dates, capped at an hour', () => {
    const now = Date.parse('2026-05-01T10:00:00Z');
    expect(retryAfterMs({ 'retry-after-ms': '1500' }, now)).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '12' }, now)).toBe(12_000);
    expect(retryAfterMs({ 'retry-after': '0.5' }, now)).toBe(500);
    expect(retryAfterMs({ 'retry-after': 'Fri, 01 May 2026 10:00:30 GMT' }, now)).toBe(30_000);
    expect(retryAfterMs({ 'retry-after': '999999' }, now)).toBe(3_600_000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({}, now)).toBeUndefined();
  });

  it('moves on for 429, 5xx and 401/403 only', () => {
    expect([429, 500, 529, 401, 403, 400, 404, 200].map(failoverReason)).toEqual([
      'rate_limited',
      'server_error',
      'server_error',
      'refused',
      'refused',
      undefined,
      undefined,
      undefined,
    ]);
    expect(DEFAULT_COOL_MS.rate_limited).toBeGreaterThan(0);
  });
});
