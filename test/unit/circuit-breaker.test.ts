import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/limits/circuit-breaker.ts';

describe('circuit breaker', () => {
  it('opens after the threshold, refuses during the cooldown, lets one probe through, closes on success', () => {
    const breaker = new CircuitBreaker({ threshold: 2, cooldownMs: 1_000 });
    breaker.failure(0);
    expect(breaker.allow(0)).toBe(true);
    breaker.failure(0);
    expect([breaker.state, breaker.trips, breaker.allow(500)]).toEqual(['open', 1, false]);
    expect(breaker.retryAfterSeconds(500)).toBe(1);
    expect(breaker.allow(1_000)).toBe(true); // the probe
    expect(breaker.allow(1_000)).toBe(false); // only one at a time
    breaker.success();
    expect([breaker.state, breaker.allow(1_001)]).toEqual(['closed', true]);
  });

  it('reopens when the probe fails', () => {
    const breaker = new CircuitBreaker({ threshold: 1, cooldownMs: 100 });
    breaker.failure(0);
    expect(breaker.allow(100)).toBe(true);
    breaker.failure(100);
    expect([breaker.state, breaker.trips, breaker.allow(150)]).toEqual(['open', 2, false]);
  });

  it('never opens with threshold 0', () => {
    const breaker = new CircuitBreaker({ threshold: 0, cooldownMs: 1_000 });
    for (let i = 0; i < 100; i++) breaker.failure(0);
    expect([breaker.state, breaker.allow(0)]).toEqual(['closed', true]);
  });
});
