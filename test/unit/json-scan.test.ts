import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../src/limits/json-depth.ts';

const bytes = (text: string) => Buffer.from(text);

describe('JSON nesting pre-check', () => {
  it('counts brackets outside strings only', () => {
    expect(nestsDeeperThan(bytes('{"a":[[1]]}'), 3)).toBe(false);
    expect(nestsDeeperThan(bytes('{"a":[[[1]]]}'), 3)).toBe(true);
    expect(nestsDeeperThan(bytes(`{"a":"${'['.repeat(5000)}"}`), 3)).toBe(false);
    expect(nestsDeeperThan(bytes(`{"a":"\\"${'{'.repeat(10)}"}`), 3)).toBe(false); // escaped quote stays in the string
    expect(nestsDeeperThan(bytes(`{"é":"ü${'['.repeat(10)}"}`), 3)).toBe(false);
  });

  it('refuses 100 000 levels and accepts 1 000', () => {
    expect(nestsDeeperThan(bytes('['.repeat(100_000) + ']'.repeat(100_000)))).toBe(true);
    expect(nestsDeeperThan(bytes('['.repeat(1_000) + ']'.repeat(1_000)))).toBe(false);
  });
});
