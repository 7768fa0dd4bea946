import { describe, expect, it } from 'vitest';
import type { McpServerConfig } from '../../src/config/config.ts';
import { ServerAccess } from '../../src/mcp/access.ts';
import { ScopedViews } from '../../src/mcp/scoped-bridge.ts';
import { injectedName } from '../../src/mcp/tool-names.ts';
import type { InjectedTool, ToolSource } from '../../src/mcp/types.ts';

const server = (name: string, allowed_roles?: McpServerConfig['allowed_roles']): McpServerConfig => ({
  name,
  url: `http://mcp.test/${name}`,
  headers: {},
  per_user_credentials: false,
  call_timeout: '60s',
  ...(allowed_roles ? { allowed_roles } : {}),
});
const SERVERS = [server('docs'), server('github', ['owner', 'auditor']), server('ops', ['owner'])];
const LONG = 'a_tool_with_a_name_far_too_long_for_any_provider_to_accept_as_is';

const tool = (serverName: string, rawName: string): InjectedTool => ({
  name: injectedName(serverName, rawName),
  server: serverName,
  serverUrl: `http://mcp.test/${serverName}`,
  rawName,
  description: rawName,
  inputSchema: { type: 'object' },
});

/** The connections of one user: a fixed, sorted list that answers every call. */
function source(): ToolSource & { calls: string[] } {
  const tools = [tool('docs', 'search'), tool('github', 'get_file'), tool('github', LONG), tool('ops', 'restart')].sort(
    (a, b) => (a.name < b.name ? -1 : 1),
  );
  const calls: string[] = [];
  return {
    tools,
    calls,
    find: (name) => tools.find((t) => t.name === name),
    call: async (name) => {
      calls.push(name);
      return { content: [{ type: 'text', text: 'ok' }], isError: false, error: null, durationMs: 1 };
    },
  };
}

describe('ServerAccess', () => {
  it('allows a role its servers, takes denied ones away, and keys equal access alike', () => {
    const member = new ServerAccess(SERVERS, 'member', []);
    expect(['docs', 'github', 'ops'].map((s) => member.allows(s))).toEqual([true, false, false]);
    expect(member.refusal('ops')).toBe('MCP server "ops" is not allowed for role member');
    const owner = new ServerAccess(SERVERS, 'owner', ['docs']);
    expect(owner.refusal('docs')).toBe('MCP server "docs" is denied to this user');
    expect(owner.allowsAll).toBe(false);
    expect(new ServerAccess(SERVERS, 'owner', []).allowsAll).toBe(true);
    expect(ServerAccess.keyOf(SERVERS, 'owner', ['ops', 'docs', 'docs'])).toBe(
      ServerAccess.keyOf(SERVERS, 'owner', ['docs', 'ops']),
    );
    expect(ServerAccess.keyOf(SERVERS, 'member', ['gone'])).toBe(ServerAccess.keyOf(SERVERS, 'member'));
  });

  it('finds the configured server of any injected-style name, shortened ones too', () => {
    const access = new ServerAccess(SERVERS, 'member', []);
    expect(access.serverOf('bmcp_github_get_file')?.name).toBe('github');
    expect(access.serverOf(injectedName('github', LONG))?.name).toBe('github');
    expect(access.serverOf('bmcp_nowhere_x')).toBeUndefined();
    expect(access.serverOf('github_get_file')).toBeUndefined();
    expect(access.serverOf('bmcp_github')).toBeUndefined();
  });
});

describe('ScopedBridge', () => {
  it('offers each access its own tools, the same array every time', () => {
    const views = new ScopedViews(SERVERS);
    const connections = source();
    const member = views.of(connections, { _id: 'm1', role: 'member' });
    const auditor = views.of(connections, { _id: 'a1', role: 'auditor' });
    const owner = views.of(connections, { _id: 'o1', role: 'owner' });
    expect(member.tools.map((t) => t.server)).toEqual(['docs']);
    expect(new Set(auditor.tools.map((t) => t.server))).toEqual(new Set(['docs', 'github']));
    expect(owner.tools).toBe(connections.tools);
    expect(views.of(connections, { _id: 'm2', role: 'member' })).toBe(member);
    expect(member.tools).toBe(member.tools);
  });

  it('claims every name of a configured server and refuses the ones this user may not call', async () => {
    const connections = source();
    const member = new ScopedViews(SERVERS).of(connections, { _id: 'm1', role: 'member' });
    expect(member.claim('Read')).toBeUndefined();
    expect(member.claim('bmcp_docs_search')).toMatchObject({ listed: true, refusal: null });
    expect(member.claim(injectedName('github', LONG))).toMatchObject({
      tool: { server: 'github', rawName: LONG },
      listed: true,
      refusal: 'MCP server "github" is not allowed for role member',
    });
    expect(member.claim('bmcp_ops_delete_everything')).toMatchObject({
      tool: { server: 'ops', rawName: 'delete_everything', serverUrl: 'http://mcp.test/ops' },
      listed: false,
      refusal: 'MCP server "ops" is not allowed for role member',
    });
    expect(await member.call('bmcp_ops_restart', {})).toMatchObject({ isError: true, durationMs: 0 });
    expect(await member.call('bmcp_docs_search', {})).toMatchObject({ isError: false });
    expect(connections.calls).toEqual(['bmcp_docs_search']);
  });
});
