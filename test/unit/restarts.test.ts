import { describe, expect, it } from 'vitest';
import { RestartBackoff } from '../../src/server/cluster/restarts.ts';

describe('worker restarts', () => {
  it('restarts at once, then backs off while a worker keeps dying young, and starts over once one ran well', () => {
    const backoff = new RestartBackoff({ baseMs: 100, maxMs: 1_000, healthyMs: 10_000 });
    expect([1, 1, 1, 1, 1, 1].map((uptime) => backoff.next(uptime))).toEqual([0, 100, 200, 400, 800, 1_000]);
    expect(backoff.next(60_000)).toBe(0);
    expect(backoff.next(5)).toBe(100);
  });
});
