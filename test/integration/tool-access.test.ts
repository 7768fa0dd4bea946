import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { manifest } from '../helpers/upstream.ts';

let h: Harness;
let mcp: TestMcpServer;
const facts = manifest();
const NOT_FOR_MEMBERS = 'MCP server "test" is not allowed for role member';

/** `test` (the server the fixtures call) is for owners; `open` is for everyone. */
beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('tool-access', {
    mcp_servers: [
      { name: 'test', url: mcp.url, tool_allow_regex: '^(echo|whoami)$', allowed_roles: ['owner'] },
      { name: 'open', url: mcp.url, tool_allow_regex: '^echo$' },
    ],
  });
});
afterAll(async () => {
  await h.close();
  await mcp.stop();
});
beforeEach(() => h.upstream.reset());

/** A user of the harness's bridge with an Anthropic and an OpenAI client; the deny list is set before its first request. */
async function client(username: string, role: 'owner' | 'member', deniedServers?: string[]) {
  const user = await h.bridge.user(username, role);
  if (deniedServers) {
    await h.store.identity.updateUser(user.id, { denied_servers: deniedServers });
  }
  return {
    anthropic: new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: user.token, maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${h.bridge.url}/openai/v1`, apiKey: user.token, maxRetries: 0 }),
  };
}

const ask = { model: 'claude-test-1', max_tokens: 256, messages: [{ role: 'user' as const, content: 'Echo' }] };
const offered = (request: { json: any }) => request.json.tools?.map((t: any) => t.name ?? t.function?.name) ?? [];

describe('who gets which MCP tools', () => {
  it('a member is offered only the servers of their role; a forged call of an owner-only tool is refused', async () => {
    const { anthropic } = await client('mia', 'member');
    const echoes = mcp.calls.get('echo') ?? 0;
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const message = await anthropic.messages.create(ask);
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    const [first, second] = h.upstream.requests as [any, any];
    expect(offered(first)).toEqual(['bmcp_open_echo']);
    // The model called bmcp_test_echo anyway: it reads a refusal, the tool never runs.
    expect(second.json.messages.at(-1).content[0]).toEqual({
      type: 'tool_result',
      tool_use_id: facts['anthropic-messages/injected-tool.json']!.tool_calls[0]!.id,
      content: [{ type: 'text', text: NOT_FOR_MEMBERS }],
      is_error: true,
    });
    expect(mcp.calls.get('echo') ?? 0).toBe(echoes);
    const r = await h.records();
    expect(r.interception.status).toBe('completed');
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool: 'echo',
        server_url: mcp.url,
        injected: true,
        invocation_error: NOT_FOR_MEMBERS,
        output: NOT_FOR_MEMBERS,
      }),
    ]);
  });

  it('streaming: the forged call stays hidden from the client too', async () => {
    const { openai } = await client('max', 'member');
    h.upstream.enqueue('openai-chat/injected-tool.sse', 'openai-chat/after-tool.sse');
    const final = await openai.chat.completions
      .stream({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Echo' }] })
      .finalChatCompletion();
    expect(JSON.stringify(final)).not.toContain('bmcp_');
    expect(final.choices[0]?.message.content).toBe(facts['openai-chat/after-tool.sse']!.text);
    expect(h.upstream.requests[1]!.json.messages.at(-1)).toMatchObject({
      role: 'tool',
      content: `error: ${NOT_FOR_MEMBERS}`,
    });
    expect((await h.records()).tools[0]).toMatchObject({ injected: true, invocation_error: NOT_FOR_MEMBERS });
  });

  it('an owner is offered and runs them', async () => {
    const { anthropic } = await client('olga', 'owner');
    const echoes = mcp.calls.get('echo') ?? 0;
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    await anthropic.messages.create(ask);
    expect(offered(h.upstream.requests[0]!)).toEqual(['bmcp_open_echo', 'bmcp_test_echo', 'bmcp_test_whoami']);
    expect(mcp.calls.get('echo')).toBe(echoes + 1);
    expect((await h.records()).tools[0]).toMatchObject({ tool: 'echo', invocation_error: null });
  });

  it('a server on a user’s deny list is taken away whatever their role', async () => {
    const { anthropic } = await client('otto', 'owner', ['test']);
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    await anthropic.messages.create(ask);
    expect(offered(h.upstream.requests[0]!)).toEqual(['bmcp_open_echo']);
    expect((await h.records()).tools[0]).toMatchObject({
      injected: true,
      invocation_error: 'MCP server "test" is denied to this user',
    });
  });
});
