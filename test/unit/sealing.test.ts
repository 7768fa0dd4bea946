import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seal, unseal } from '../../src/identity/sealing.ts';

describe('sealed per-user secrets', () => {
  const key = randomBytes(32);

  it('open under the same key and owner, and under no other', () => {
    const sealed = seal(key, 'user-1:openai', 'sk-secret');
    expect(unseal(key, 'user-1:openai', sealed)).toBe('sk-secret');
    expect(() => unseal(key, 'user-2:openai', sealed)).toThrow();
    expect(() => unseal(randomBytes(32), 'user-1:openai', sealed)).toThrow();
  });

  it('refuse a value whose authentication tag was cut short', () => {
    const [version, iv, tag, body] = seal(key, 'a', 'secret').split('.') as [string, string, string, string];
    const short = Buffer.from(tag, 'base64').subarray(0, 4).toString('base64');
    expect(() => unseal(key, 'a', [version, iv, short, body].join('.'))).toThrow();
  });
});
