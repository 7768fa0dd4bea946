import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * Work context (README "Work context"): the bridge's own MCP server at /mcp, reached with the real
 * MCP SDK client; annotate_work injected into requests (annotations.inject) and run by the loop;
 * the annotations on the session's interceptions, in q and in usage by repo.
 */
const facts = manifest();
const ask = {
  model: 'claude-test-1',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Fix the login' }],
};

async function mcpClient(url: string, headers: Record<string, string>) {
  const client = new Client({ name: 'work-context-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe.each(STORE_KINDS)('work context (%s store)', (kind) => {
  let h: Harness;
  let bob: { id: string; token: string };
  beforeAll(async () => {
    h = await startHarness(`work-context-${kind}`, { annotations: { inject: true } }, kind);
    bob = await h.bridge.user('bob');
  });
  afterAll(() => h?.close());
  beforeEach(() => h.upstream.reset());

  const api = async (path: string, token = h.token) => {
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: await res.json() };
  };
  /** The interception's work context, once the store has it. */
  async function workOf(id: string, done: (work: any) => boolean) {
    let detail: any;
    await waitUntil(async () => {
      await h.bridge.ctx.recorder.flush();
      detail = (await api(`/interceptions/${id}`)).body;
      return done(detail.work);
    });
    return detail;
  }

  it('serves annotate_work at /mcp to a bridge token, and attaches it to the caller’s session', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create(ask, { headers: { 'x-claude-code-session-id': 'sess-mcp' } });
    const turn = await h.records();

    const client = await mcpClient(`${h.bridge.url}/mcp`, {
      authorization: `Bearer ${h.token}`,
      'x-claude-code-session-id': 'sess-mcp',
    });
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['annotate_work']);
      const done = (await client.callTool({
        name: 'annotate_work',
        arguments: {
          repo: 'git@github.com:acme/app.git',
          branch: 'fix/login',
          pr_urls: ['https://github.com/acme/app/pull/117'],
          issue_urls: 'https://github.com/acme/app/issues/9',
        },
      })) as CallToolResult;
      expect(done.isError).toBeFalsy();
      expect(done.content).toEqual([
        {
          type: 'text',
          text: 'Work context recorded for session sess-mcp: repo github.com/acme/app, branch fix/login, 1 pull request, 1 issue.',
        },
      ]);
      const bad = (await client.callTool({
        name: 'annotate_work',
        arguments: { repo: 'x'.repeat(300) },
      })) as CallToolResult;
      expect(bad.isError).toBe(true);
      expect(JSON.stringify(bad.content)).toContain('repo is longer than 256 characters');
      const empty = (await client.callTool({ name: 'annotate_work', arguments: {} })) as CallToolResult;
      expect(JSON.stringify(empty.content)).toContain('give at least one of');
    } finally {
      await client.close();
    }

    const shown = await workOf(turn.interception._id, (w) => w?.repo === 'github.com/acme/app');
    expect(shown.work).toEqual({
      repo: 'github.com/acme/app',
      branch: 'fix/login',
      pr_urls: ['https://github.com/acme/app/pull/117'],
      issue_urls: ['https://github.com/acme/app/issues/9'],
      updated_at: expect.any(String),
    });
    expect(shown.annotations).toEqual([
      expect.objectContaining({
        interception_id: turn.interception._id,
        client_session_id: 'sess-mcp',
        initiator_id: h.userId,
        repo: 'github.com/acme/app',
      }),
    ]);

    // Searched and summed by it.
    const found = await api(`/interceptions?q=${encodeURIComponent('repo:github.com/acme/app pr:117')}`);
    expect(found.body.results.map((r: any) => r.id)).toEqual([turn.interception._id]);
    const usage = await api('/usage?group_by=repo');
    expect(usage.body.groups.find((g: any) => g.key.repo === 'github.com/acme/app')).toMatchObject({
      interceptions: 1,
    });
  });

  it("never lets another user's call reach someone else's session", async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create(ask, { headers: { 'x-claude-code-session-id': 'sess-private' } });
    const mine = await h.records();
    const client = await mcpClient(`${h.bridge.url}/mcp`, {
      authorization: `Bearer ${bob.token}`,
      'x-claude-code-session-id': 'sess-private',
    });
    try {
      await client.callTool({ name: 'annotate_work', arguments: { repo: 'github.com/evil/repo' } });
    } finally {
      await client.close();
    }
    await h.bridge.ctx.recorder.flush();
    expect((await api(`/interceptions/${mine.interception._id}`)).body.work).toBeNull();
    const search = await api(`/interceptions?q=${encodeURIComponent('repo:github.com/evil/repo')}`);
    expect(search.body.results).toEqual([]);
  });

  it('takes work context through the API too, for the caller’s own session', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create(ask, { headers: { 'x-claude-code-session-id': 'sess-api' } });
    const turn = await h.records();
    const post = (body: unknown, token = h.token) =>
      fetch(`${h.bridge.url}/api/v2/aibridge/annotations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const made = await post({ client_session_id: 'sess-api', pr_urls: ['https://github.com/acme/app/pull/5'] });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({
      interception_id: turn.interception._id,
      client_session_id: 'sess-api',
      initiator_id: h.userId,
      pr_urls: ['https://github.com/acme/app/pull/5'],
      repo: null,
    });
    expect((await workOf(turn.interception._id, (w) => w !== null)).work.pr_urls).toEqual([
      'https://github.com/acme/app/pull/5',
    ]);
    expect((await post({})).status).toBe(400);
    expect((await post({ repo: 7 })).status).toBe(400);
    expect((await post({ repo: 'r', shell: 'rm -rf /' })).status).toBe(400);
    expect((await post({ repo: 'r' }, 'aib_nope_nope_nope_nope_nope_nope')).status).toBe(401);
  });

  it('refuses /mcp without a valid token, before reading anything, and answers only POST', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${h.bridge.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await none.json()).error.message).toMatch(/missing credentials/);
    expect((await post({ authorization: 'Bearer aib_not_a_real_token_at_all_000000' })).status).toBe(401);
    const get = await fetch(`${h.bridge.url}/mcp`, { headers: { authorization: `Bearer ${h.token}` } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const huge = await fetch(`${h.bridge.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(300 * 1024) } }),
    });
    expect(huge.status).toBe(413);
    // Sent without a length (chunked): refused once the route's own bound is passed, not limits.body_bytes.
    const pad = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const chunked = await fetch(`${h.bridge.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      duplex: 'half',
      body: new ReadableStream({
        pull(controller) {
          if (sent++ < 16)
            controller.enqueue(pad); // 1 MiB at most
          else controller.close();
        },
      }),
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const garbage = await fetch(`${h.bridge.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: '{"jsonrpc":',
    });
    expect(garbage.status).toBe(400);
  });

  it('runs the injected bmcp_aibridge_annotate_work in the loop, against the interception it was made in', async () => {
    h.upstream.enqueue('anthropic-messages/annotate-work.json', 'anthropic-messages/after-tool.json');
    const answer = await h.anthropic.messages.create(ask, { headers: { 'x-claude-code-session-id': 'sess-loop' } });
    expect(JSON.stringify(answer.content)).not.toContain('annotate_work');
    // It was offered like any MCP server's tool, and its result went back up.
    const [first, second] = h.upstream.requests;
    expect(first!.json.tools.map((t: any) => t.name)).toContain('bmcp_aibridge_annotate_work');
    const call = facts['anthropic-messages/annotate-work.json']!.tool_calls[0]!;
    expect(JSON.stringify(second!.json.messages.at(-1))).toContain('Work context recorded for session sess-loop');

    const r = await h.records();
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool_call_id: call.id,
        tool: 'annotate_work',
        server_url: '/mcp',
        injected: true,
        invocation_error: null,
        metadata: { server: 'aibridge' },
      }),
    ]);
    const shown = await workOf(r.interception._id, (w) => w?.branch === 'fix/login');
    expect(shown.work).toMatchObject({
      repo: 'github.com/acme/app',
      pr_urls: ['https://github.com/acme/app/pull/117'],
    });
    expect(shown.annotations.map((a: any) => a.note)).toEqual(['Fixing the login redirect']);
  });
});
