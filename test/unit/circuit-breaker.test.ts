import { describe, expect, it } from 'vitest';
import { BreakerSet, CircuitBreaker } from '../../src/limits/circuit-breaker.ts';
import { isUpstreamFault } from '../../src/limits/upstream-faults.ts';

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

  it('tells each change of state once, with the key of its set', () => {
    const seen: string[] = [];
    const set = new BreakerSet({ threshold: 1, cooldownMs: 100 }, 10, (key, to) => seen.push(`${key}:${to}`));
    const breaker = set.for('m');
    breaker.success(); // closed already: nothing to tell
    breaker.failure(0);
    breaker.failure(0); // open already
    breaker.allow(100);
    breaker.failure(100);
    breaker.allow(200);
    breaker.success();
    expect(seen).toEqual(['m:open', 'm:half_open', 'm:open', 'm:half_open', 'm:closed']);
  });

  it('never opens with threshold 0', () => {
    const breaker = new CircuitBreaker({ threshold: 0, cooldownMs: 1_000 });
    for (let i = 0; i < 100; i++) breaker.failure(0);
    expect([breaker.state, breaker.allow(0)]).toEqual(['closed', true]);
  });
});

describe('what counts against the circuit', () => {
  it('a released call frees the probe slot without closing or opening the circuit', () => {
    const breaker = new CircuitBreaker({ threshold: 1, cooldownMs: 100 });
    breaker.failure(0);
    expect(breaker.allow(100)).toBe(true);
    breaker.release();
    expect([breaker.state, breaker.allow(100)]).toEqual(['half_open', true]);
  });

  it('counts connect errors, resets and timeouts, never errors made on our side', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']) {
      expect(isUpstreamFault(err(code)), code).toBe(true);
    }
    expect(isUpstreamFault(Object.assign(new Error('fetch failed'), { cause: err('ECONNREFUSED') }))).toBe(true);
    for (const code of ['UND_ERR_INVALID_ARG', 'UND_ERR_ABORTED', 'UND_ERR_CLOSED', 'ERR_INVALID_ARG_TYPE', '']) {
      expect(isUpstreamFault(err(code)), code).toBe(false);
    }
    expect(isUpstreamFault(new TypeError('bad header'))).toBe(false);
  });

  it('forgets idle breakers once client-chosen model names pass the bound', () => {
    const set = new BreakerSet({ threshold: 2, cooldownMs: 1_000 }, 10);
    set.for('failing').failure(0);
    for (let i = 0; i < 100; i++) set.for(`model-${i}`);
    expect(set.breakers.size).toBeLessThanOrEqual(11);
    expect(set.breakers.has('failing')).toBe(true);
  });
});
