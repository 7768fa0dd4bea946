import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { manifest } from '../helpers/upstream.ts';

let h: Harness;
const facts = manifest();
beforeAll(async () => {
  h = await startHarness('messages');
});
afterAll(() => h.close());
beforeEach(() => h.upstream.reset());

const ask = { model: 'claude-test-1', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'Say hello' }] };

describe('Anthropic Messages, blocking', () => {
  it('returns the upstream answer and records the interception exactly', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    const message = await h.anthropic.messages.create(ask, {
      headers: { 'user-agent': 'claude-cli/2.1.3 (external, cli)', 'x-claude-code-session-id': 'sess-1' },
    });
    const expected = facts['anthropic-messages/text.json']!;
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe(expected.text);

    const sent = h.upstream.requests[0]!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe('sk-ant-upstream-key');
    expect(JSON.stringify(sent.headers)).not.toContain(h.token);
    expect(sent.json).toEqual(ask);

    const r = await h.records();
    expect(r.interception).toMatchObject({
      initiator_id: h.userId,
      api_key_id: h.apiKeyId,
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: ask.model,
      client: 'Claude Code',
      client_session_id: 'sess-1',
      status: 'completed',
    });
    expect(r.interception.ended_at).toBeInstanceOf(Date);
    expect(r.prompts.map((p) => p.prompt)).toEqual(['Say hello']);
    expect(r.tokens).toHaveLength(1);
    expect(r.tokens[0]).toMatchObject({ ...expected.usage, provider_response_id: expected.response_id });
  });
});

describe('Anthropic Messages, streaming', () => {
  it('relays the stream and records usage from message_start and message_delta', async () => {
    h.upstream.enqueue('anthropic-messages/cached.sse');
    const stream = h.anthropic.messages.stream(ask);
    const message = await stream.finalMessage();
    const expected = facts['anthropic-messages/cached.sse']!;
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe(expected.text);
    const r = await h.records();
    expect(r.tokens[0]).toMatchObject(expected.usage!);
    expect(r.interception.status).toBe('completed');
  });

  it('records client tool calls and thinking', async () => {
    h.upstream.enqueue('anthropic-messages/client-tool.sse');
    const message = await h.anthropic.messages.stream(ask).finalMessage();
    const expected = facts['anthropic-messages/client-tool.sse']!;
    const calls = message.content.filter((b) => b.type === 'tool_use');
    expect(calls.map((c) => [c.id, c.name, c.input])).toEqual(
      expected.tool_calls.map((c) => [c.id, c.name, c.arguments]),
    );
    const r = await h.records();
    expect(r.tools).toEqual([
      expect.objectContaining({
        tool_call_id: expected.tool_calls[0]!.id,
        tool: 'get_weather',
        injected: false,
        server_url: null,
        invocation_error: null,
        input: JSON.stringify(expected.tool_calls[0]!.arguments),
      }),
    ]);

    h.upstream.enqueue('anthropic-messages/thinking.sse');
    await h.anthropic.messages.stream(ask).finalMessage();
    const t = await h.records();
    expect(t.thoughts.map((x) => x.content)).toEqual([facts['anthropic-messages/thinking.sse']!.thinking]);
    expect(t.thoughts[0].source).toBe('thinking');
  });

  it('relays a refusal stop reason', async () => {
    h.upstream.enqueue('anthropic-messages/refusal.sse');
    const message = await h.anthropic.messages.stream(ask).finalMessage();
    expect(message.stop_reason).toBe('refusal');
    expect((await h.records()).interception.status).toBe('completed');
  });

  it('relays a mid-stream error and records the interception as failed', async () => {
    h.upstream.enqueue('anthropic-messages/mid-stream-error.sse');
    await expect(h.anthropic.messages.stream(ask).finalMessage()).rejects.toThrow(/Overloaded/i);
    const r = await h.records();
    expect(r.interception.status).toBe('failed');
  });

  it('turns a cut upstream connection into an error event', async () => {
    h.upstream.enqueue('anthropic-messages/cut.sse');
    await expect(h.anthropic.messages.stream(ask).finalMessage()).rejects.toThrow();
    expect((await h.records()).interception.status).toBe('failed');
  });
});

describe('errors', () => {
  it('passes upstream HTTP errors through unchanged', async () => {
    h.upstream.enqueue('anthropic-messages/http-429.json');
    const err = await h.anthropic.messages.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.headers.get('retry-after')).toBeTruthy();
    expect((await h.records()).interception.status).toBe('failed');
  });

  it('answers 401 in Anthropic format without calling the upstream', async () => {
    const bad = new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: 'aib_wrong', maxRetries: 0 });
    const err = await bad.messages.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const none = await fetch(`${h.bridge.url}/anthropic/v1/messages`, { method: 'POST', body: '{}' });
    expect(none.status).toBe(401);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('answers 400 for bodies that are not JSON or lack messages', async () => {
    for (const body of ['not json', '[]', JSON.stringify({ model: 'x' })]) {
      const res = await fetch(`${h.bridge.url}/anthropic/v1/messages`, {
        method: 'POST',
        body,
        headers: { 'x-api-key': h.token, 'content-type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    }
    expect(h.upstream.requests).toHaveLength(0);
  });
});
