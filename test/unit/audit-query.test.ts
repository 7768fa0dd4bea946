import { describe, expect, it } from 'vitest';
import { formatTerm, parseQuery, parseRfc3339 } from '../../src/audit/query.ts';

const ok = (q: string) => {
  const { query, validations } = parseQuery(q);
  expect(validations).toEqual([]);
  return query;
};
const fields = (q: string) => parseQuery(q).validations.map((v) => v.field);
const details = (q: string) =>
  parseQuery(q)
    .validations.map((v) => v.detail)
    .join('\n');

describe('q language', () => {
  it('matches everything when empty or blank', () => {
    expect(ok('')).toEqual({});
    expect(ok('   ')).toEqual({});
  });

  it('reads every key', () => {
    expect(
      ok(
        'initiator:me provider:anthropic provider_name:corp-anthropic model:claude-sonnet-4 client:Codex ' +
          'started_after:2025-01-01T00:00:00Z started_before:"2025-02-01T00:00:00+01:00"',
      ),
    ).toEqual({
      initiator: 'me',
      provider: 'anthropic',
      provider_name: 'corp-anthropic',
      model: 'claude-sonnet-4',
      client: 'Codex',
      started_after: new Date('2025-01-01T00:00:00Z'),
      started_before: new Date('2025-01-31T23:00:00Z'),
    });
  });

  it('reads the tool and work-context keys, URLs with their colons unquoted', () => {
    expect(
      ok('tool:Read repo:github.com/acme/app branch:feature/x pr:https://github.com/acme/app/pull/7 issue:#9'),
    ).toEqual({
      tool: 'Read',
      repo: 'github.com/acme/app',
      branch: 'feature/x',
      pr: 'https://github.com/acme/app/pull/7',
      issue: '#9',
    });
    expect(details('branch:a:b')).toContain('more than one ":"');
  });

  it('treats a bare term as the initiator', () => {
    expect(ok('alice')).toEqual({ initiator: 'alice' });
    expect(ok('me model:gpt-5')).toEqual({ initiator: 'me', model: 'gpt-5' });
  });

  it('keeps spaces and colons inside double quotes', () => {
    expect(ok('client:"Claude Code"')).toEqual({ client: 'Claude Code' });
    expect(ok('client:"GitHub Copilot (VS Code)"  model:x')).toEqual({
      client: 'GitHub Copilot (VS Code)',
      model: 'x',
    });
    expect(ok('model:"ft:gpt-4o:corp"')).toEqual({ model: 'ft:gpt-4o:corp' });
    expect(ok('"client":Zed')).toEqual({ client: 'Zed' });
  });

  it('accepts keys in any case and tabs between terms', () => {
    expect(ok('Provider:openai\tMODEL:o3')).toEqual({ provider: 'openai', model: 'o3' });
  });

  it('rejects an unknown key, naming it', () => {
    expect(fields('colour:blue')).toEqual(['q']);
    expect(details('colour:blue')).toContain('unknown key "colour"');
  });

  it('rejects an empty key or an empty value', () => {
    expect(details(':openai')).toContain('empty key');
    expect(fields('provider:')).toEqual(['provider']);
    expect(details('provider:')).toContain('empty value');
    expect(details('client:""')).toContain('empty value');
  });

  it('rejects two colons outside quotes, except in times', () => {
    expect(details('model:gpt:4')).toContain('more than one ":"');
    expect(ok('started_after:2025-01-01T10:20:30.123Z').started_after).toEqual(new Date('2025-01-01T10:20:30.123Z'));
  });

  it('rejects an unterminated quote', () => {
    expect(details('client:"Claude Code')).toContain('unterminated');
  });

  it('rejects bad times', () => {
    for (const bad of [
      'yesterday',
      '2025-01-01',
      '2025-02-30T00:00:00Z',
      '2025-13-01T00:00:00Z',
      '2025-01-01T24:00:00Z',
    ]) {
      expect(fields(`started_after:"${bad}"`), bad).toEqual(['started_after']);
      expect(details(`started_after:"${bad}"`), bad).toContain('RFC 3339');
    }
    expect(fields('started_before:nope')).toEqual(['started_before']);
  });

  it('rejects started_before not after started_after', () => {
    const same = 'started_after:2025-01-01T00:00:00Z started_before:2025-01-01T00:00:00Z';
    expect(fields(same)).toEqual(['started_before']);
    expect(fields('started_after:2025-01-02T00:00:00Z started_before:2025-01-01T00:00:00Z')).toEqual([
      'started_before',
    ]);
  });

  it('rejects a key given twice and reports every problem at once', () => {
    expect(details('provider:openai provider:anthropic')).toContain('more than once');
    expect(fields('a:b model: started_after:x')).toEqual(['q', 'model', 'started_after']);
  });
});

describe('RFC 3339', () => {
  it('applies offsets and fractions', () => {
    expect(parseRfc3339('2025-06-01T12:00:00-02:30')?.toISOString()).toBe('2025-06-01T14:30:00.000Z');
    expect(parseRfc3339('2024-02-29t00:00:00.5z')?.toISOString()).toBe('2024-02-29T00:00:00.500Z');
    expect(parseRfc3339('2025-02-29T00:00:00Z')).toBeUndefined();
  });
});

describe('formatTerm', () => {
  it('quotes what needs quoting and round-trips through the parser', () => {
    expect(formatTerm('client', 'Claude Code')).toBe('client:"Claude Code"');
    expect(formatTerm('model', 'gpt-5')).toBe('model:gpt-5');
    const q = [formatTerm('client', 'Claude Code'), formatTerm('model', 'ft:a:b')].join(' ');
    expect(ok(q)).toEqual({ client: 'Claude Code', model: 'ft:a:b' });
    expect(() => formatTerm('model', 'a"b')).toThrow(/double quote/);
  });
});
