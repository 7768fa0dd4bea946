import { describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/budgets/budgets.ts';

/** The console's own modules (plain browser ES modules, no DOM needed for these). */
const format = await import(new URL('../../src/console/assets/lib/format.js', import.meta.url).href);

/** Two upstream calls of one interception, with cache reads and writes. */
const usages = [
  { input_tokens: 100, cache_read_input_tokens: 20, cache_write_input_tokens: 15, output_tokens: 25 },
  { input_tokens: 100, cache_read_input_tokens: 20, cache_write_input_tokens: 15, output_tokens: 15 },
];

describe('the console’s token figures', () => {
  it('defines input once: uncached input plus cache reads plus cache writes, with the parts beside it', () => {
    const f = format.figures(usages);
    expect(f).toEqual({ input: 270, uncached: 200, cacheRead: 40, cacheWrite: 30, output: 40 });
    expect(format.inOut(f)).toBe('270 in · 40 out');
    expect(format.inputParts(f)).toBe('200 uncached · 40 cache read · 30 cache write');
    // One call's input is part of the interception's: the calls add up to the total.
    const calls = usages.map((u) => format.figures([u]).input);
    expect(calls).toEqual([135, 135]);
    expect(calls[0] + calls[1]).toBe(f.input);
    expect(format.tokens({ token_usages: usages })).toEqual(f);
  });

  it('reads the API’s sums (usage groups, sessions) the same way', () => {
    const session = {
      input_tokens: 600,
      cache_read_input_tokens: 300,
      cache_write_input_tokens: 100,
      output_tokens: 120,
      total_input_tokens: 1000,
    };
    expect(format.figures([session]).input).toBe(session.total_input_tokens);
    expect(format.figures([]).input).toBe(0);
  });

  it('measures a session’s span from its first start to its latest end, as on its page', () => {
    const s = {
      first_started_at: '2026-01-01T00:00:00.000Z',
      last_started_at: '2026-01-01T00:00:00.180Z',
      last_ended_at: '2026-01-01T00:00:00.219Z',
    };
    expect(format.sessionSpan(s)).toBe(219);
    expect(format.sessionSpan({ ...s, last_ended_at: null })).toBe(180); // the latest turn still runs
  });
});

describe('the console’s budgets', () => {
  it('keeps every digit cents would round away, as the bridge prints a budget elsewhere', () => {
    expect(format.budgetUsd(0.00001)).toBe('$0.00001');
    expect(format.budgetUsd(0.0000001)).toBe('$0.0000001');
    expect(format.budgetUsd(25)).toBe('$25.00');
    expect(format.budgetUsd(0)).toBe('$0.00');
    expect(format.budgetUsd(0.1 + 0.2)).toBe('$0.30');
    for (const usd of [0.00001, 0.0000001, 12.5, 0, 0.123456789, 3.005])
      expect(format.budgetUsd(usd)).toBe(formatUsd(usd, true));
  });
});
