import { describe, expect, it } from 'vitest';
import { compareNames, injectedName, MAX_TOOL_NAME, toolFilter } from '../../src/mcp/tool-names.ts';

const VALID = /^[a-zA-Z0-9_-]{1,64}$/;

describe('injectedName', () => {
  it('is bmcp_<server>_<tool> when that is already valid', () => {
    expect(injectedName('github', 'search_code')).toBe('bmcp_github_search_code');
    expect(injectedName('my-server', 'get-file')).toBe('bmcp_my-server_get-file');
    expect(injectedName('s', 'x'.repeat(64 - 7))).toBe(`bmcp_s_${'x'.repeat(57)}`); // exactly 64
  });

  it('shortens long names to 64 characters with a stable hash suffix', () => {
    const long = `tool_${'y'.repeat(80)}`;
    const name = injectedName('github', long);
    expect(name).toHaveLength(MAX_TOOL_NAME);
    expect(name).toMatch(VALID);
    expect(name).toMatch(/^bmcp_github_tool_y+_[0-9a-f]{8}$/);
    expect(injectedName('github', long)).toBe(name); // stable
  });

  it('keeps long names that share a prefix distinct', () => {
    const base = 'z'.repeat(70);
    const names = ['a', 'b', 'c', 'd'].map((s) => injectedName('srv', `${base}${s}`));
    expect(new Set(names).size).toBe(4);
    for (const n of names) expect(n).toMatch(VALID);
  });

  it('replaces characters providers refuse, and names that sanitise alike stay distinct', () => {
    const dotted = injectedName('srv', 'files.read');
    const slashed = injectedName('srv', 'files/read');
    const plain = injectedName('srv', 'files_read');
    expect(dotted).toMatch(VALID);
    expect(dotted).toMatch(/^bmcp_srv_files_read_[0-9a-f]{8}$/);
    expect(plain).toBe('bmcp_srv_files_read');
    expect(new Set([dotted, slashed, plain]).size).toBe(3);
    expect(injectedName('srv', 'ünïcode tool')).toMatch(VALID);
  });
});

describe('toolFilter', () => {
  it('keeps everything without regexes', () => {
    expect(toolFilter()('anything')).toBe(true);
  });

  it('applies allow, then deny wins', () => {
    const keep = toolFilter('^(search_|get_)', 'delete|secret');
    expect(keep('search_code')).toBe(true);
    expect(keep('get_file')).toBe(true);
    expect(keep('create_issue')).toBe(false);
    expect(keep('get_secret')).toBe(false);
    expect(toolFilter(undefined, 'delete')('delete_repo')).toBe(false);
    expect(toolFilter(undefined, 'delete')('list_repos')).toBe(true);
  });
});

describe('compareNames', () => {
  it('orders by code units, not locale', () => {
    const sorted = [{ name: 'b' }, { name: 'B' }, { name: 'a' }, { name: '_' }].sort(compareNames).map((t) => t.name);
    expect(sorted).toEqual(['B', '_', 'a', 'b']);
  });
});
