import { describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/budgets/scope.ts';

/** The console's own modules (plain browser ES modules, no DOM needed for these). */
const format = await import(new URL('../../src/console/assets/lib/format.js', import.meta.url).href);
const chart = await import(new URL('../../src/console/assets/lib/chart.js', import.meta.url).href);

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

describe('the console’s chart axes', () => {
  it('ticks at round values from 0 past the largest bar, never one twice', () => {
    expect(chart.niceTicks(0.00015)).toEqual([0, 0.00005, 0.0001, 0.00015]);
    expect(chart.niceTicks(0.3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(chart.niceTicks(1234.5)).toEqual([0, 500, 1000, 1500]);
    expect(chart.niceTicks(3, 4, 1)).toEqual([0, 1, 2, 3]); // counts step by whole numbers
    expect(chart.niceTicks(0)).toEqual([0, 1]);
  });

  it('writes dollar ticks with the decimals their step needs: no "<$0.0001" twice', () => {
    const labels = (max: number) => chart.tickLabels(chart.niceTicks(max), 'usd');
    expect(labels(0.00015)).toEqual(['$0', '$0.00005', '$0.00010', '$0.00015']);
    expect(labels(0.0037665)).toEqual(['$0', '$0.001', '$0.002', '$0.003', '$0.004']);
    expect(labels(0.3)).toEqual(['$0', '$0.10', '$0.20', '$0.30']);
    expect(labels(12)).toEqual(['$0', '$5', '$10', '$15']);
    for (const max of [0.0000349, 0.00015, 0.0037665, 0.3, 0.7, 3.2, 12, 1234.5, 18234]) {
      const written = labels(max);
      expect(new Set(written).size, written.join(' ')).toBe(written.length);
    }
  });

  it('writes count ticks compactly, each as its value', () => {
    expect(chart.tickLabels([0, 500, 1000, 1500], 'count')).toEqual(['0', '500', '1K', '1.5K']);
    expect(chart.tickLabels([0, 5000, 10000, 15000, 20000], 'count')).toEqual(['0', '5K', '10K', '15K', '20K']);
    expect(chart.tickLabels([0, 500000, 1000000, 1500000], 'count')).toEqual(['0', '500K', '1M', '1.5M']);
  });

  it('labels only as many slots as fit side by side', () => {
    expect(chart.labelEvery(30, 19, 40, 8)).toBe(3); // a phone: every third day
    expect(chart.labelEvery(8, 70, 40, 8)).toBe(1); // a desktop week: every day
    expect(chart.labelEvery(1, 10, 400, 8)).toBe(1);
  });
});
