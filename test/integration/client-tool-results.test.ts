import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * A client tool's result, sent back by a real SDK client in its next request, lands on the call
 * recorded earlier (README "What is recorded"), redacted and cut; another user's request
 * carrying the same call id changes nothing.
 */
const facts = manifest();
const SECRET = ['sk', 'ant', 'api03', 'R3sultS3cr3tR3sultS3cr3tR3sult'].join('-');

describe.each(STORE_KINDS)('client tool results (%s store)', (kind) => {
  let h: Harness;
  let other: { anthropic: Anthropic; openai: OpenAI; id: string };
  beforeAll(async () => {
    h = await startHarness(`client-results-${kind}`, { recording: { max_field_bytes: '1KiB' } }, kind);
    const bob = await h.bridge.user('bob');
    other = {
      id: bob.id,
      anthropic: new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: bob.token, maxRetries: 0 }),
      openai: new OpenAI({ baseURL: `${h.bridge.url}/openai/v1`, apiKey: bob.token, maxRetries: 0 }),
    };
  });
  afterAll(() => h?.close());
  beforeEach(() => h.upstream.reset());

  /** The recorded call, once `done` says it is as expected. */
  async function callOf(interceptionId: string, done: (call: any) => boolean) {
    let call: any;
    await waitUntil(async () => {
      await h.bridge.ctx.recorder.flush();
      call = (await h.store.audit.get({}, interceptionId))?.tool_usages[0];
      return call !== undefined && done(call);
    });
    return call;
  }

  it('Anthropic Messages: the tool_result lands on the tool_use, redacted and cut, with its error mark', async () => {
    h.upstream.enqueue('anthropic-messages/client-tool.sse');
    const ask: Anthropic.MessageParam = { role: 'user', content: 'Weather in Paris?' };
    const first = await h.anthropic.messages
      .stream({ model: 'claude-test-1', max_tokens: 256, messages: [ask] })
      .finalMessage();
    const asked = await h.records();
    const id = facts['anthropic-messages/client-tool.sse']!.tool_calls[0]!.id;
    expect(asked.tools).toEqual([expect.objectContaining({ tool_call_id: id, injected: false, output: null })]);

    const output = `curl said: token=${SECRET}\n${'sunny '.repeat(400)}`;
    const answer = (is_error: boolean): Anthropic.MessageParam[] => [
      ask,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: output, is_error }] },
    ];
    // Bob sends a result for alice's call id: it is his to send, and matches none of his calls.
    h.upstream.enqueue('anthropic-messages/text.json');
    await other.anthropic.messages.create({ model: 'claude-test-1', max_tokens: 256, messages: answer(false) });
    const bobs = await h.records();
    expect(bobs.interception.initiator_id).toBe(other.id);

    h.upstream.enqueue('anthropic-messages/text.json');
    await h.anthropic.messages.create({ model: 'claude-test-1', max_tokens: 256, messages: answer(true) });
    const answered = await h.records();
    const call = await callOf(asked.interception._id, (c) => c.result_at !== null);
    expect(call.result_interception_id).toBe(answered.interception._id);
    expect(call.is_error).toBe(true);
    expect(call.output.startsWith('curl said: token=[REDACTED]\nsunny')).toBe(true);
    expect(JSON.stringify(call)).not.toContain(SECRET);
    expect(Buffer.byteLength(call.output)).toBe(1024);
    expect(call).toMatchObject({ truncated: true, original_bytes: { output: Buffer.byteLength(output) } });
    expect(call.result_at.getTime()).toBeGreaterThanOrEqual(answered.interception.started_at.getTime());
    // The model still got the client's own text: recording never changes what goes up.
    expect(JSON.stringify(h.upstream.requests.at(-1)!.json)).toContain(SECRET);

    // The API shows it with the call.
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions/${asked.interception._id}`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    const shown = (await res.json()).tool_usages[0];
    expect(shown).toMatchObject({
      tool_call_id: id,
      is_error: true,
      result_interception_id: answered.interception._id,
      result_at: call.result_at.toISOString(),
    });
    expect(shown).not.toHaveProperty('initiator_id');
  });

  it('OpenAI Responses: the function_call_output lands on the function_call', async () => {
    h.upstream.enqueue('openai-responses/client-tool.sse');
    const first = await h.openai.responses.stream({ model: 'gpt-4.1', input: 'Weather?' }).finalResponse();
    const asked = await h.records();
    const call = first.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function call');
    h.upstream.enqueue('openai-responses/text.json');
    await h.openai.responses.create({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'Weather?' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' },
      ],
    });
    const answered = await h.records();
    const recorded = await callOf(asked.interception._id, (c) => c.result_at !== null);
    expect(recorded).toMatchObject({
      tool_call_id: call.call_id,
      output: '{"temp_c":21}',
      is_error: null,
      result_interception_id: answered.interception._id,
    });
  });

  it('OpenAI Chat Completions: the role tool message lands on the tool call', async () => {
    h.upstream.enqueue('openai-chat/client-tool.json');
    const first = await h.openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    const asked = await h.records();
    const message = first.choices[0]!.message;
    const toolCall = message.tool_calls![0]!;
    h.upstream.enqueue('openai-chat/text.json');
    await h.openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [
        { role: 'user', content: 'Weather?' },
        message,
        { role: 'tool', tool_call_id: toolCall.id, content: 'rain' },
      ],
    });
    const answered = await h.records();
    expect(await callOf(asked.interception._id, (c) => c.result_at !== null)).toMatchObject({
      tool_call_id: toolCall.id,
      output: 'rain',
      result_interception_id: answered.interception._id,
    });
    // The conversation resent with a new question: the old result is not recorded again.
    h.upstream.enqueue('openai-chat/text.json');
    await h.openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [
        { role: 'user', content: 'Weather?' },
        message,
        { role: 'tool', tool_call_id: toolCall.id, content: 'changed since' },
        { role: 'assistant', content: 'It rains.' },
        { role: 'user', content: 'Thanks' },
      ],
    });
    await h.records();
    expect((await callOf(asked.interception._id, () => true)).output).toBe('rain');
  });
});
