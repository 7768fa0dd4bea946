import { describe, expect, it } from 'vitest';
import { chatCompletionsApi } from '../../src/intercept/chat-completions/index.ts';
import { ClientView } from '../../src/intercept/client-view.ts';
import { messagesApi } from '../../src/intercept/messages/index.ts';
import { responsesApi } from '../../src/intercept/responses/index.ts';
import { prependTools } from '../../src/intercept/tool-format.ts';
import type { ApiModule, Json, ToolExchange } from '../../src/intercept/types.ts';
import type { InjectedTool, ToolCallResult } from '../../src/mcp/types.ts';
import { loadFixture, manifest, responseModelOf } from '../helpers/upstream.ts';

const facts = manifest();
const APIS = [
  ['anthropic-messages', messagesApi],
  ['openai-chat', chatCompletionsApi],
  ['openai-responses', responsesApi],
] as const;

const body = (fixture: string): Json => {
  const f = loadFixture(fixture);
  if (f.kind !== 'json') throw new Error(fixture);
  return JSON.parse(f.body);
};
const viewOf = (api: ApiModule) => new ClientView((name) => name.startsWith('bmcp_'), api.callName);

const TOOL: InjectedTool = {
  name: 'bmcp_test_echo',
  server: 'test',
  serverUrl: 'http://mcp.test',
  rawName: 'echo',
  description: 'Echoes.',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
};
const ok = (text: string): ToolCallResult => ({
  content: [{ type: 'text', text }],
  isError: false,
  error: null,
  durationMs: 1,
});
const PNG = 'iVBORw0KGgo=';

describe.each(APIS)('%s payload', (dir, api) => {
  it.each(['text', 'cached', 'client-tool', 'parallel-tools', 'injected-tool', 'injected-parallel', 'mixed-tools'])(
    'parses %s.json as the manifest says',
    (name) => {
      const fixture = `${dir}/${name}.json`;
      const expected = facts[fixture]!;
      const turn = api.parseResponse(body(fixture));
      expect(turn.responseId).toBe(expected.response_id);
      expect(turn.responseModel).toBe(responseModelOf(fixture));
      expect(turn.finishReasons).toEqual([expected.stop_reason]);
      const { metadata: _, ...usage } = turn.usage!;
      expect(usage).toEqual(expected.usage);
      expect(turn.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: JSON.parse(c.arguments) }))).toEqual(
        expected.tool_calls,
      );
    },
  );

  it('adds the injected tools without touching the client’s tools or tool settings', () => {
    const client = { model: 'm', messages: [], input: 'x', tools: [{ name: 'mine', type: 'function' }] };
    const settings =
      dir === 'anthropic-messages'
        ? { tool_choice: { type: 'auto', disable_parallel_tool_use: true } }
        : { parallel_tool_calls: false, tool_choice: 'auto' };
    const request: Json = structuredClone({ ...client, ...settings });
    prependTools(request, api.formatTools([TOOL]));
    expect(request.tools.at(-1)).toEqual(client.tools[0]);
    expect(JSON.stringify(request.tools[0])).toContain('bmcp_test_echo');
    expect(request).toMatchObject(settings);
    const plain: Json = structuredClone(client);
    prependTools(plain, api.formatTools([TOOL]));
    expect(Object.keys(plain).sort()).toEqual(Object.keys(client).sort()); // nothing asks for one call per turn
  });

  it('appends the results in the model’s order, and gives the model the text it records', () => {
    const fixture = `${dir}/injected-parallel.json`;
    const request: Json = { model: 'm', messages: [{ role: 'user', content: 'go' }], input: 'go', store: false };
    const turn = api.parseResponse(body(fixture));
    const results = [
      ok('first'),
      {
        ...ok('second'),
        content: [...ok('second').content, { type: 'image' as const, data: PNG, mimeType: 'image/png' }],
      },
      { content: [{ type: 'text' as const, text: 'it broke' }], isError: true, error: 'it broke', durationMs: 1 },
    ];
    const exchanges: ToolExchange[] = turn.toolCalls.map((call, i) => ({
      call,
      result: results[i]!,
      output: api.resultText(results[i]!),
    }));
    api.appendToolResults(request, turn, exchanges);
    const ids = facts[fixture]!.tool_calls.map((c) => c.id);
    const texts = results.map((r) => api.resultText(r));
    if (dir === 'anthropic-messages') {
      const blocks = request.messages.at(-1).content;
      expect(blocks.map((b: Json) => b.tool_use_id)).toEqual(ids);
      expect(blocks.map((b: Json) => b.is_error ?? false)).toEqual([false, false, true]);
      expect(blocks[1].content[1]).toEqual({
        type: 'image',
        source: { type: 'base64', media_type: 'image/png', data: PNG },
      });
      expect(
        blocks.map((b: Json) =>
          b.content
            .filter((c: Json) => c.type === 'text')
            .map((c: Json) => c.text)
            .join('\n'),
        ),
      ).toEqual(['first', 'second', 'it broke']);
      expect(texts).toEqual(['first', 'second\n[image image/png, 9 bytes]', 'it broke']);
    } else {
      const outputs =
        dir === 'openai-chat'
          ? request.messages.filter((m: Json) => m.role === 'tool').map((m: Json) => [m.tool_call_id, m.content])
          : request.input
              .filter((i: Json) => i.type === 'function_call_output')
              .map((i: Json) => [i.call_id, i.output]);
      expect(outputs).toEqual(ids.map((id, i) => [id, texts[i]]));
      expect(texts).toEqual(['first', 'second\n[image image/png, 9 bytes, not shown]', 'error: it broke']);
    }
  });

  it('merges turns into one response without the injected calls, usage summed', () => {
    const turns = [`${dir}/injected-parallel.json`, `${dir}/after-tool.json`];
    const responses = turns.map(body);
    const merged = api.mergeResponses(
      responses,
      responses.map((r) => api.parseResponse(r)),
      viewOf(api),
    );
    expect(JSON.stringify(merged)).not.toContain('bmcp_');
    const [a, b] = turns.map((f) => facts[f]!.usage!) as [
      NonNullable<(typeof facts)[string]['usage']>,
      NonNullable<(typeof facts)[string]['usage']>,
    ];
    const { metadata: _, ...usage } = api.parseResponse(merged).usage!;
    expect(usage).toEqual({
      input_tokens: a.input_tokens + b.input_tokens,
      output_tokens: a.output_tokens + b.output_tokens,
      cache_read_input_tokens: a.cache_read_input_tokens + b.cache_read_input_tokens,
      cache_write_input_tokens: a.cache_write_input_tokens + b.cache_write_input_tokens,
    });
    expect(JSON.stringify(merged)).toContain(facts[turns[1]!]!.text!);
  });

  it('keeps the client’s call of a mixed turn', () => {
    const response = body(`${dir}/mixed-tools.json`);
    const merged = api.mergeResponses([response], [api.parseResponse(response)], viewOf(api));
    expect(api.parseResponse(merged).toolCalls.map((c) => c.name)).toEqual(['get_weather']);
  });
});

describe('finish reasons', () => {
  it('Chat Completions: one per choice', () => {
    const choices = [
      { finish_reason: 'stop', message: {} },
      { finish_reason: 'length', message: {} },
    ];
    expect(chatCompletionsApi.parseResponse({ id: 'c', model: 'gpt-x', choices }).finishReasons).toEqual([
      'stop',
      'length',
    ]);
  });

  it('Responses: the status, or why the response is incomplete', () => {
    const incomplete = { id: 'r', status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
    expect(responsesApi.parseResponse({ ...incomplete, output: [] }).finishReasons).toEqual(['max_output_tokens']);
    expect(responsesApi.parseResponse({ id: 'r', output: [] })).toMatchObject({
      responseModel: null,
      finishReasons: [],
    });
  });
});

describe('streaming preparation', () => {
  it('asks Chat Completions for usage unless the client did, and says which', () => {
    const asked: Json = { stream: true, stream_options: { include_usage: true } };
    expect(chatCompletionsApi.prepareStreaming(asked)).toEqual({ clientWantsUsage: true });
    const plain: Json = { stream: true };
    expect(chatCompletionsApi.prepareStreaming(plain)).toEqual({
      clientWantsUsage: false,
      changed: ['stream_options'],
    });
    expect(plain.stream_options).toEqual({ include_usage: true });
  });
});
