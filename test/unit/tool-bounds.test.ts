import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { McpServerConfig } from '../../src/config/config.ts';
import { clientToolNames } from '../../src/intercept/tool-format.ts';
import { clientToolsWin } from '../../src/mcp/client-wins.ts';
import { ScopedViews } from '../../src/mcp/scoped-bridge.ts';
import { leftOut, ToolBudget, ToolCap } from '../../src/mcp/tool-bounds.ts';
import { compareNames, injectedName } from '../../src/mcp/tool-names.ts';
import type { InjectedTool, ToolSource } from '../../src/mcp/types.ts';
import { createLogger } from '../../src/observability/logger.ts';

const server = (name: string, allowed_roles?: McpServerConfig['allowed_roles']): McpServerConfig => ({
  name,
  url: `http://mcp.test/${name}`,
  headers: {},
  per_user_credentials: false,
  call_timeout: '60s',
  ...(allowed_roles ? { allowed_roles } : {}),
});

const tool = (serverName: string, rawName: string, description = rawName): InjectedTool => ({
  name: injectedName(serverName, rawName),
  server: serverName,
  serverUrl: `http://mcp.test/${serverName}`,
  rawName,
  description,
  inputSchema: { type: 'object' },
});

const sorted = (tools: InjectedTool[]) => [...tools].sort(compareNames);
const numbered = (serverName: string, count: number) =>
  Array.from({ length: count }, (_, i) => tool(serverName, `t${String(i).padStart(3, '0')}`));

function source(tools: InjectedTool[]): ToolSource & { calls: string[] } {
  const list = sorted(tools);
  const calls: string[] = [];
  return {
    tools: list,
    calls,
    find: (name) => list.find((t) => t.name === name),
    call: async (name) => {
      calls.push(name);
      return { content: [{ type: 'text', text: 'ok' }], isError: false, error: null, durationMs: 1 };
    },
  };
}

function capturedLogger() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      );
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('ToolBudget', () => {
  const size = (t: InjectedTool) => Buffer.byteLength(JSON.stringify([t.name, t.description, t.inputSchema]));

  it('keeps the tools first by name that fit, whatever order the pages come in', () => {
    const tools = numbered('s', 50);
    const fits = size(tools[0] as InjectedTool) * 10; // every definition is the same size
    const forward = new ToolBudget(fits);
    for (let i = 0; i < 50; i += 7) forward.add(tools.slice(i, i + 7));
    const backward = new ToolBudget(fits);
    for (let i = 49; i >= 0; i -= 5) backward.add(tools.slice(Math.max(0, i - 4), i + 1).reverse());
    expect(forward.tools.map((t) => t.rawName)).toEqual(tools.slice(0, 10).map((t) => t.rawName));
    expect(backward.tools).toEqual(forward.tools);
    expect(forward.cut).toEqual({ count: 40, names: tools.slice(10).map((t) => t.name) });
    expect(backward.cut).toEqual(forward.cut);
  });

  it('leaves out a definition larger than the whole budget, and counts without naming past 100', () => {
    const budget = new ToolBudget(2_000);
    budget.add([tool('s', 'a_huge', 'x'.repeat(5_000)), tool('s', 'b_small')]);
    expect(budget.tools.map((t) => t.rawName)).toEqual(['b_small']);
    const many = new ToolBudget(1_024);
    many.add(numbered('s', 500));
    expect(many.cut.count + many.tools.length).toBe(500);
    expect(many.cut.names).toHaveLength(100);
  });
});

describe('ToolCap', () => {
  const SERVERS = [server('zeta'), server('alpha')];

  it('returns the same list when it fits', () => {
    const tools = sorted(numbered('alpha', 5));
    expect(new ToolCap(SERVERS, 5).select(tools).tools).toBe(tools);
  });

  it('takes servers in config order, each by name, and keeps the result sorted by name', () => {
    const tools = sorted([...numbered('alpha', 4), ...numbered('zeta', 3)]);
    const { tools: kept, cut } = new ToolCap(SERVERS, 5).select(tools);
    expect(kept.map((t) => t.name)).toEqual([
      'bmcp_alpha_t000',
      'bmcp_alpha_t001',
      'bmcp_zeta_t000',
      'bmcp_zeta_t001',
      'bmcp_zeta_t002',
    ]);
    expect([...cut]).toEqual([['alpha', ['bmcp_alpha_t002', 'bmcp_alpha_t003']]]);
    expect(new ToolCap(SERVERS, 0).select(tools).tools).toEqual([]);
  });

  it('logs once per server and change, not per selection', () => {
    const { logger, lines } = capturedLogger();
    const cap = new ToolCap(SERVERS, 5, logger);
    const tools = sorted([...numbered('alpha', 4), ...numbered('zeta', 3)]);
    for (let i = 0; i < 3; i++) cap.note(cap.select(tools));
    cap.note(cap.select(sorted([...numbered('alpha', 5), ...numbered('zeta', 3)])));
    cap.note(cap.select(sorted(numbered('alpha', 2))));
    expect(lines.map((l) => [l.level, l.mcp_server, l.left_out])).toEqual([
      [40, 'alpha', 2],
      [40, 'alpha', 3],
      [30, 'alpha', undefined],
    ]);
  });

  it('builds a status entry only when something was left out', () => {
    expect(leftOut(undefined, [])).toBeUndefined();
    expect(leftOut({ overBytes: { count: 2, names: ['b', 'd'] }, unread: null }, ['a', 'c'])).toEqual({
      tools: 4,
      over_max_tools: 2,
      over_max_tools_bytes: 2,
      unread: null,
      names: ['a', 'b', 'c', 'd'],
    });
  });
});

describe('ScopedBridge with mcp.max_tools', () => {
  const SERVERS = [server('ops', ['owner']), server('docs')];
  const connections = () => source([...numbered('ops', 3), ...numbered('docs', 3)]);

  it("caps after the user's access: a server they may not use takes no room", () => {
    const views = new ScopedViews(SERVERS, new ToolCap(SERVERS, 3));
    const tools = connections();
    expect(views.of(tools, { _id: 'o', role: 'owner' }).tools.map((t) => t.server)).toEqual(['ops', 'ops', 'ops']);
    expect(views.of(tools, { _id: 'm', role: 'member' }).tools.map((t) => t.server)).toEqual(['docs', 'docs', 'docs']);
  });

  it('refuses a call of a tool the cap left out; it never runs', async () => {
    const tools = connections();
    const owner = new ScopedViews(SERVERS, new ToolCap(SERVERS, 3)).of(tools, { _id: 'o', role: 'owner' });
    expect(owner.claim('bmcp_docs_t000')).toMatchObject({
      listed: true,
      refusal: 'tool "bmcp_docs_t000" is not offered: all MCP servers together list more than mcp.max_tools (3)',
    });
    expect(await owner.call('bmcp_docs_t000', {})).toMatchObject({ isError: true, durationMs: 0 });
    expect(await owner.call('bmcp_ops_t000', {})).toMatchObject({ isError: false });
    expect(tools.calls).toEqual(['bmcp_ops_t000']);
  });
});

describe('client tools named like injected ones', () => {
  const SERVERS = [server('docs'), server('ops', ['owner'])];
  const bridge = () =>
    new ScopedViews(SERVERS).of(source([...numbered('docs', 2), ...numbered('ops', 1)]), { _id: 'm', role: 'member' });

  it('reads client tool names in every API shape', () => {
    expect(
      clientToolNames({
        tools: [
          { name: 'Read', input_schema: {} },
          { type: 'function', function: { name: 'get_weather' } },
          { type: 'function', name: 'shell' },
          { type: 'web_search_preview' },
          null,
          'junk',
        ],
      }),
    ).toEqual(['Read', 'get_weather', 'shell']);
    expect(clientToolNames({ tools: 'nope' })).toEqual([]);
  });

  it('win: the injected one is left out and its name is the client’s; no clash keeps the same bridge', () => {
    const scoped = bridge();
    expect(clientToolsWin(scoped, ['Read', 'bmcp_nowhere_x'])).toBe(scoped);
    const view = clientToolsWin(scoped, ['Read', 'bmcp_docs_t001', 'bmcp_ops_t000']);
    expect(view.tools.map((t) => t.name)).toEqual(['bmcp_docs_t000']);
    expect(view.claim('bmcp_docs_t001')).toBeUndefined();
    expect(view.claim('bmcp_ops_t000')).toBeUndefined(); // not offered to a member, but the client defines it
    expect(view.claim('bmcp_docs_t000')).toMatchObject({ listed: true, refusal: null });
  });
});
