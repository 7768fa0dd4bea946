import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan, scanJson } from '../../src/limits/json-scan.ts';

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

describe('top-level members', () => {
  const membersOf = (text: string) => {
    const object = scanJson(bytes(text)).object;
    if (!object) return undefined;
    const raw = bytes(text);
    return Object.fromEntries(
      [...object.members].map(([name, span]) => [name, raw.subarray(span.start, span.end).toString()]),
    );
  };

  it('finds each member’s value as written, whitespace trimmed, nested keys ignored', () => {
    const text =
      ' { "model" : "m", "tools":[ {"tools":1} ] ,\n"n": -1.5e3, "s":"a\\"}b", "o":{"x":[1,{}]}, "t":true } ';
    expect(membersOf(text)).toEqual({
      model: '"m"',
      tools: '[ {"tools":1} ]',
      n: '-1.5e3',
      s: '"a\\"}b"',
      o: '{"x":[1,{}]}',
      t: 'true',
    });
    expect(scanJson(bytes(text)).object?.close).toBe(text.lastIndexOf('}'));
  });

  it('measures offsets in bytes, whatever the characters', () => {
    const text = '{"é→":"ü\\u00e9","tools":[]}';
    const span = scanJson(bytes(text)).object?.members.get('tools');
    expect(bytes(text).subarray(span?.start, span?.end).toString()).toBe('[]');
  });

  it('finds where each element of a top-level array starts, in bytes, nested arrays and strings aside', () => {
    const text = '{"messages": [ {"c":"a,]b"} , ["x",[1,2]],"é→," ],"meta":{"list":[1,2]},"empty":[]}';
    const raw = bytes(text);
    const starts = scanJson(raw).object?.elements.get('messages') ?? [];
    expect(starts.map((at) => raw.subarray(at).toString().trimStart().slice(0, 6))).toEqual([
      '{"c":"',
      '["x",[',
      '"é→," ',
    ]);
    expect(scanJson(raw).object?.elements.has('meta')).toBe(false); // an object's arrays are not top-level
    expect(scanJson(raw).object?.elements.get('empty')).toHaveLength(1); // one start, no element: callers count
  });

  it('gives no shape when splicing could be wrong: repeated or escaped names, not an object, not complete', () => {
    expect(scanJson(bytes('{"tools":[],"tools":[1]}')).object).toBeUndefined();
    expect(scanJson(bytes('{"tool\\u0073":[]}')).object).toBeUndefined();
    expect(scanJson(bytes('[{"tools":[]}]')).object).toBeUndefined();
    expect(scanJson(bytes('{"tools":[')).object).toBeUndefined();
    expect(scanJson(bytes('{"a":"unterminated}')).object).toBeUndefined();
    expect(membersOf('{}')).toEqual({});
  });
});

describe('what a kept scan holds', () => {
  it('keeps its member names, not the copy of the body it read them from', () => {
    // A name of 13 characters or more sliced from a string is a view that keeps the whole string.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = () => {
      gc();
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external; // Node makes the copy of a body over about 1 MB an external string
    };
    const body = bytes(`{"parallel_tool_calls":true,"input":"${'x'.repeat(512 * 1024)}"}`);
    const before = used();
    const kept = Array.from({ length: 40 }, () => scanJson(body));
    const grown = used() - before;
    expect(kept.every((scan) => scan.object?.members.has('parallel_tool_calls'))).toBe(true);
    expect(grown).toBeLessThan(4 * body.length); // 40 copies kept would be 20 MB
  });
});
