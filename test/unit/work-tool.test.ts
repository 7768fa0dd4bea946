import { describe, expect, it } from 'vitest';
import { clientToolsWin } from '../../src/mcp/client-wins.ts';
import type { InjectedTool, RequestBridge } from '../../src/mcp/types.ts';
import { WORK_TOOL, withWorkTool } from '../../src/work-context/inject.ts';
import { RecentInterceptions } from '../../src/work-context/recent.ts';
import { LIMITS, normalizeRepo, parseWorkArgs } from '../../src/work-context/tool.ts';

describe('annotate_work arguments', () => {
  it('keeps a repository as host/owner/name however it was given', () => {
    for (const given of [
      'github.com/acme/app',
      'https://github.com/acme/app',
      'https://github.com/acme/app.git',
      'https://user@github.com/acme/app/',
      'ssh://git@github.com/acme/app.git',
      'git@github.com:acme/app.git',
      '  github.com/acme/app  ',
    ]) {
      expect(normalizeRepo(given), given).toBe('github.com/acme/app');
    }
  });

  it('takes every field, trims, drops repeats, and takes a lone URL as a list', () => {
    expect(
      parseWorkArgs({
        repo: 'github.com/acme/app',
        branch: ' main ',
        pr_urls: 'https://github.com/acme/app/pull/1',
        issue_urls: ['https://x/1', 'https://x/1', ''],
        note: 'why',
        extra: 'ignored',
      }),
    ).toEqual({
      args: {
        repo: 'github.com/acme/app',
        branch: 'main',
        pr_urls: ['https://github.com/acme/app/pull/1'],
        issue_urls: ['https://x/1'],
        note: 'why',
      },
    });
  });

  it('refuses what is too long, too many, of the wrong type, with control characters, or empty', () => {
    const problems = (args: unknown) =>
      'problems' in parseWorkArgs(args) ? (parseWorkArgs(args) as any).problems : [];
    expect(problems({ repo: 'r'.repeat(LIMITS.repo + 1) })).toEqual([`repo is longer than ${LIMITS.repo} characters`]);
    expect(problems({ pr_urls: Array.from({ length: LIMITS.urls + 1 }, (_, i) => `u${i}`) })).toEqual([
      `pr_urls has more than ${LIMITS.urls} URLs`,
    ]);
    expect(problems({ branch: 7 })).toEqual(['branch must be a string']);
    expect(problems({ branch: 'a\u0000b' })).toEqual(['branch contains control characters']);
    expect(problems({ issue_urls: { a: 1 } })).toEqual(['issue_urls must be an array of URLs']);
    expect(problems({})).toEqual(['give at least one of repo, branch, issue_urls, pr_urls, note']);
    expect(problems('repo')).toEqual(['arguments must be an object']);
  });
});

describe('annotate_work injected', () => {
  const tool = (name: string): InjectedTool => ({
    name,
    server: 'gh',
    serverUrl: 'http://mcp',
    rawName: name,
    description: '',
    inputSchema: {},
  });
  const base: RequestBridge = {
    tools: [tool('bmcp_gh_search'), tool('bmcp_zz_last')],
    claim: (name) => (name.startsWith('bmcp_gh_') ? { tool: tool(name), listed: true, refusal: null } : undefined),
    call: async () => ({ content: [{ type: 'text', text: 'from gh' }], isError: false, error: null, durationMs: 1 }),
  };
  const run = async () => ({
    content: [{ type: 'text' as const, text: 'annotated' }],
    isError: false,
    error: null,
    durationMs: 0,
  });

  it('is offered in name order, as the same array every request (a byte-stable tool block)', () => {
    const one = withWorkTool(base, run);
    const two = withWorkTool(base, run);
    expect(one.tools.map((t) => t.name)).toEqual(['bmcp_aibridge_annotate_work', 'bmcp_gh_search', 'bmcp_zz_last']);
    expect(one.tools).toBe(two.tools);
  });

  it('is claimed and run in-process; every other tool still reaches its server', async () => {
    const bridge = withWorkTool(base, run);
    expect(bridge.claim('bmcp_aibridge_annotate_work')).toEqual({ tool: WORK_TOOL, listed: true, refusal: null });
    expect((await bridge.call('bmcp_aibridge_annotate_work', {})).content).toEqual([
      { type: 'text', text: 'annotated' },
    ]);
    expect((await bridge.call('bmcp_gh_search', {})).content).toEqual([{ type: 'text', text: 'from gh' }]);
    expect(bridge.claim('Read')).toBeUndefined();
  });

  it('gives way to a client tool of the same name', () => {
    const bridge = clientToolsWin(withWorkTool(base, run), ['bmcp_aibridge_annotate_work']);
    expect(bridge.tools.map((t) => t.name)).not.toContain('bmcp_aibridge_annotate_work');
    expect(bridge.claim('bmcp_aibridge_annotate_work')).toBeUndefined();
  });
});

describe('recent interceptions', () => {
  it("knows each user's latest, overall and per session, within a bound", () => {
    const recent = new RecentInterceptions(2);
    recent.started('u1', 'i1', 's1');
    recent.started('u1', 'i2', null);
    expect(recent.latest('u1', null)).toEqual({ interceptionId: 'i2', sessionId: null });
    expect(recent.latest('u1', 's1')).toEqual({ interceptionId: 'i1', sessionId: 's1' });
    expect(recent.latest('u2', 's1')).toBeUndefined();
    recent.started('u2', 'i3', 's2');
    recent.started('u3', 'i4', 's3');
    expect(recent.latest('u1', null)).toBeUndefined(); // the least recent went first
    expect(recent.latest('u1', 's1')).toBeUndefined();
  });

  it("knows where a user's model made a client tool call, and only that user's", () => {
    const recent = new RecentInterceptions();
    recent.clientCalled('u1', 'toolu_1', 'i1', 's1');
    expect(recent.called('u1', 'toolu_1')).toEqual({ interceptionId: 'i1', sessionId: 's1' });
    expect(recent.called('u2', 'toolu_1')).toBeUndefined();
  });
});
