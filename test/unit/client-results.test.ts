import { describe, expect, it } from 'vitest';
import { chatCompletionsApi } from '../../src/intercept/chat-completions/index.ts';
import { ClientBody } from '../../src/intercept/client-body.ts';
import { MAX_RESULTS_PER_REQUEST, resultsIn } from '../../src/intercept/client-results.ts';
import { messagesApi } from '../../src/intercept/messages/index.ts';
import { understand } from '../../src/intercept/request.ts';
import { responsesApi } from '../../src/intercept/responses/index.ts';

/** The results of the client's tools a request carries: only those answering the last response's calls. */
describe('client tool results in a request', () => {
  it('Messages: the tool_result blocks after the last assistant turn, text joined, images described', () => {
    const body = {
      messages: [
        { role: 'user', content: 'read two files' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_old', name: 'Read', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_old', content: 'resent every turn' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_a', name: 'Read', input: {} },
            { type: 'tool_use', id: 'toolu_b', name: 'Read', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_a',
              content: [
                { type: 'text', text: 'line 1' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
                { type: 'text', text: 'line 2' },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_b', content: 'no such file', is_error: true },
            { type: 'text', text: '<system-reminder>…</system-reminder>' },
          ],
        },
      ],
    };
    expect(resultsIn(messagesApi.results, body)).toEqual([
      { callId: 'toolu_a', output: 'line 1\n[image image/png]\nline 2', isError: false },
      { callId: 'toolu_b', output: 'no such file', isError: true },
    ]);
    expect(resultsIn(messagesApi.results, { messages: [{ role: 'user', content: 'hi' }] })).toEqual([]);
    expect(resultsIn(messagesApi.results, { messages: 'not a list' })).toEqual([]);
  });

  it('Responses: the function_call_output items after the last item the model produced', () => {
    const input = [
      { role: 'user', content: [{ type: 'input_text', text: 'list files' }] },
      { type: 'function_call', call_id: 'call_old', name: 'exec_command', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_old', output: 'resent' },
      { type: 'reasoning', summary: [] },
      { type: 'function_call', call_id: 'call_1', name: 'exec_command', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'a.txt\nb.txt' },
      { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'done' }] },
    ];
    expect(resultsIn(responsesApi.results, { input })).toEqual([
      { callId: 'call_1', output: 'a.txt\nb.txt', isError: null },
      { callId: 'call_2', output: 'done', isError: null },
    ]);
    // Chained on the upstream (previous_response_id): the input is only the outputs.
    expect(resultsIn(responsesApi.results, { input: input.slice(5, 6), previous_response_id: 'resp_1' })).toEqual([
      { callId: 'call_1', output: 'a.txt\nb.txt', isError: null },
    ]);
    expect(resultsIn(responsesApi.results, { input: 'just text' })).toEqual([]);
  });

  it('Chat Completions: the role tool messages after the last assistant message', () => {
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'ls' } }] },
      { role: 'tool', tool_call_id: 'call_x', content: [{ type: 'text', text: 'src' }] },
      { role: 'system', content: 'be brief' },
    ];
    expect(resultsIn(chatCompletionsApi.results, { messages })).toEqual([
      { callId: 'call_x', output: 'src', isError: null },
    ]);
  });

  it('takes at most the last results of one request, however many it carries', () => {
    const n = MAX_RESULTS_PER_REQUEST + 10;
    const content = Array.from({ length: n }, (_, i) => ({ type: 'tool_result', tool_use_id: `t${i}`, content: 'x' }));
    const results = resultsIn(messagesApi.results, { messages: [{ role: 'user', content }] });
    expect(results).toHaveLength(MAX_RESULTS_PER_REQUEST);
    expect(results[0]?.callId).toBe('t10');
    expect(results.at(-1)?.callId).toBe(`t${n - 1}`);
  });

  it('reads text beyond ASCII exactly, from its own items, not the whole body parsed again', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      system: 'Résumé of the rules',
      messages: [
        { role: 'user', content: 'read it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'naïve — 42 ✓' }] },
      ],
    };
    // Raw UTF-8 (ï, —) and a JSON escape (\u2713 for ✓) in one result: both must come out as the client meant.
    const text = JSON.stringify(body).replace('✓', '\\u2713');
    expect(text).toContain('42 \\u2713');
    const client = new ClientBody(Buffer.from(text));
    expect(client.exact).toBe(false); // parsed as latin1, for speed
    const { results } = understand(messagesApi, client, undefined, [], false, {});
    expect(results).toEqual([{ callId: 'toolu_1', output: 'naïve — 42 ✓', isError: false }]);
    expect(client.exact).toBe(false); // its items were read alone: the body was not parsed again
  });

  it('still reads them exactly where the scan cannot place the items (a repeated top-level name)', () => {
    const text =
      '{"model":"m","max_tokens":1,"messages":[],"messages":[{"role":"user","content":[' +
      '{"type":"tool_result","tool_use_id":"t","content":"ça"}]}]}';
    const client = new ClientBody(Buffer.from(text));
    const { results } = understand(messagesApi, client, undefined, [], false, {});
    expect(results).toEqual([{ callId: 't', output: 'ça', isError: false }]);
  });
});
