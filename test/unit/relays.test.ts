import { describe, expect, it, vi } from 'vitest';
import { chatCompletionsApi } from '../../src/intercept/chat-completions/index.ts';
import { ClientView } from '../../src/intercept/client-view.ts';
import { messagesApi } from '../../src/intercept/messages/index.ts';
import { responsesApi } from '../../src/intercept/responses/index.ts';
import type { ApiModule, Turn } from '../../src/intercept/types.ts';
import type { SseEvent } from '../../src/providers/sse.ts';
import { fixtureEvents } from '../helpers/fakes.ts';
import { loadFixture, manifest, responseModelOf } from '../helpers/upstream.ts';

const facts = manifest();
const ownsBmcp = (name: string) => name.startsWith('bmcp_');

/** What a client received over SSE: raw text, its data payloads, and the turns the relay read. */
interface Relayed {
  text: string;
  data: any[];
  events: Array<{ event: string | undefined; data: any }>;
  turns: Array<Turn | undefined>;
  upstreamError: string | undefined;
}

/**
 * Feeds fixtures through one relay as consecutive turns of one interception (as the loop does),
 * then finishes it; `keepAlive` is sent between turns, as while tools run.
 */
function relay(
  api: ApiModule,
  fixtures: string[],
  options: { clientWantsUsage?: boolean; between?: 'keepAlive'; transform?: (event: SseEvent) => SseEvent } = {},
) {
  let text = '';
  const view = new ClientView(ownsBmcp, api.callName);
  const relay = api.createRelay(
    { write: (t) => (text += t) },
    { view, clientWantsUsage: options.clientWantsUsage ?? true },
  );
  const turns: Array<Turn | undefined> = [];
  fixtures.forEach((fixture, i) => {
    if (i > 0) {
      if (options.between) relay.keepAlive();
      relay.nextTurn();
    }
    for (const event of fixtureEvents(fixture)) {
      relay.onEvent(options.transform ? options.transform(event) : event);
      if (relay.upstreamError) break;
    }
    turns.push(relay.endTurn());
  });
  if (turns.every(Boolean)) relay.finish();
  const blocks = text.split('\n\n').filter(Boolean);
  const events = blocks.flatMap((block) => {
    const lines = block.split('\n');
    const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
    if (data === undefined) return [];
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
    return [{ event, data: data === '[DONE]' ? data : JSON.parse(data) }];
  });
  return {
    text,
    events,
    data: events.map((e) => e.data).filter((d) => d !== '[DONE]'),
    turns,
    upstreamError: relay.upstreamError,
  } satisfies Relayed;
}

const rawOf = (fixture: string) => {
  const f = loadFixture(fixture);
  return f.kind === 'sse' ? f.chunks.flatMap((c) => ('data' in c ? [c.data] : [])).join('') : '';
};

const usageOf = (...fixtures: string[]) =>
  fixtures
    .map((f) => facts[f]!.usage!)
    .reduce((a, b) => ({
      input_tokens: a.input_tokens + b.input_tokens,
      output_tokens: a.output_tokens + b.output_tokens,
      cache_read_input_tokens: a.cache_read_input_tokens + b.cache_read_input_tokens,
      cache_write_input_tokens: a.cache_write_input_tokens + b.cache_write_input_tokens,
    }));

describe('Messages relay', () => {
  it('relays a turn with nothing to hide byte for byte', () => {
    const r = relay(messagesApi, ['anthropic-messages/client-tool.sse']);
    expect(r.text).toBe(rawOf('anthropic-messages/client-tool.sse'));
    expect(r.turns[0]?.toolCalls.map((c) => c.name)).toEqual(['get_weather']);
  });

  it('hides injected calls across turns, numbers blocks contiguously and sums usage once at the end', () => {
    const turns = ['anthropic-messages/injected-parallel.sse', 'anthropic-messages/after-tool.sse'];
    const r = relay(messagesApi, turns, { between: 'keepAlive' });
    expect(r.text).not.toContain('bmcp_');
    const types = r.data.map((d) => d.type);
    expect(types.filter((t) => t === 'message_start')).toHaveLength(1);
    expect(types.filter((t) => t === 'message_stop')).toHaveLength(1);
    expect(types.at(-1)).toBe('message_stop');
    expect(r.data.filter((d) => d.type === 'content_block_start').map((d) => [d.index, d.content_block.type])).toEqual([
      [0, 'text'],
      [1, 'text'],
    ]);
    // Every block event carries the index of a block the client saw start.
    expect(new Set(r.data.filter((d) => 'index' in d).map((d) => d.index))).toEqual(new Set([0, 1]));
    expect(r.data.find((d) => d.type === 'message_start').message.id).toBe(facts[turns[0]!]!.response_id);
    const sum = usageOf(...turns);
    expect(r.data.find((d) => d.type === 'message_delta').usage).toMatchObject({
      input_tokens: sum.input_tokens,
      output_tokens: sum.output_tokens,
    });
    expect(r.turns.map((t) => t?.usage?.output_tokens)).toEqual(turns.map((f) => facts[f]!.usage!.output_tokens));
    expect(r.turns[0]?.toolCalls.map((c) => [c.id, JSON.parse(c.arguments)])).toEqual(
      facts[turns[0]!]!.tool_calls.map((c) => [c.id, c.arguments]),
    );
    expect(r.text).toContain('event: ping\ndata: {"type": "ping"}\n\n'); // the keep-alive
  });

  it('renumbers the client call that follows a hidden one in the same turn', () => {
    const r = relay(messagesApi, ['anthropic-messages/mixed-tools.sse']);
    const weather = facts['anthropic-messages/mixed-tools.sse']!.tool_calls[1]!;
    const start = r.data.find((d) => d.type === 'content_block_start' && d.content_block.type === 'tool_use');
    expect(start).toMatchObject({ index: 1, content_block: { id: weather.id, name: 'get_weather' } });
    const json = r.data.filter((d) => d.delta?.type === 'input_json_delta');
    expect(json.every((d) => d.index === 1)).toBe(true);
    expect(JSON.parse(json.map((d) => d.delta.partial_json).join(''))).toEqual(weather.arguments);
    expect(r.text).not.toContain('bmcp_');
  });

  it('relays an upstream error event and reports it; a cut stream has no turn', () => {
    const failed = relay(messagesApi, ['anthropic-messages/mid-stream-error.sse']);
    expect(failed.upstreamError).toMatch(/overloaded/i);
    expect(failed.events.at(-1)).toMatchObject({ event: 'error', data: { type: 'error' } });
    expect(relay(messagesApi, ['anthropic-messages/cut.sse']).turns).toEqual([undefined]);
  });
});

describe('Chat Completions relay', () => {
  it('hides the usage chunk the bridge asked for, and keeps the one the client asked for', () => {
    const hidden = relay(chatCompletionsApi, ['openai-chat/text.sse'], { clientWantsUsage: false });
    expect(hidden.data.some((c) => c.usage)).toBe(false);
    expect(hidden.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const kept = relay(chatCompletionsApi, ['openai-chat/text.sse']);
    expect(kept.text).toBe(rawOf('openai-chat/text.sse'));
  });

  it('hides injected calls across turns; every chunk carries the first id; usage is summed', () => {
    const turns = ['openai-chat/injected-parallel.sse', 'openai-chat/after-tool.sse'];
    const r = relay(chatCompletionsApi, turns, { between: 'keepAlive' });
    expect(r.text).not.toContain('bmcp_');
    expect(r.data.some((c) => c.choices?.[0]?.delta?.tool_calls)).toBe(false);
    expect(new Set(r.data.map((c) => c.id))).toEqual(new Set([facts[turns[0]!]!.response_id]));
    expect(r.data.filter((c) => c.choices?.[0]?.finish_reason)).toHaveLength(1);
    expect(r.events.filter((e) => e.data === '[DONE]')).toHaveLength(1);
    const usage = r.data.find((c) => c.usage)?.usage;
    const sum = usageOf(...turns);
    expect(usage).toMatchObject({ prompt_tokens: sum.input_tokens, completion_tokens: sum.output_tokens });
    expect(r.text).toContain(': keep-alive\n\n');
    expect(r.turns[0]?.toolCalls.map((c) => c.id)).toEqual(facts[turns[0]!]!.tool_calls.map((c) => c.id));
  });

  it('renumbers the client call that follows a hidden one', () => {
    const r = relay(chatCompletionsApi, ['openai-chat/mixed-tools.sse']);
    const deltas = r.data.flatMap((c) => c.choices?.[0]?.delta?.tool_calls ?? []);
    expect(new Set(deltas.map((d: any) => d.index))).toEqual(new Set([0]));
    expect(deltas[0]).toMatchObject({ id: facts['openai-chat/mixed-tools.sse']!.tool_calls[1]!.id });
    expect(r.text).not.toContain('bmcp_');
  });

  it('passes parallel client calls through untouched', () => {
    expect(relay(chatCompletionsApi, ['openai-chat/parallel-tools.sse']).text).toBe(
      rawOf('openai-chat/parallel-tools.sse'),
    );
  });

  it('relays an error chunk and reports it', () => {
    const r = relay(chatCompletionsApi, ['openai-chat/mid-stream-error.sse']);
    expect(r.upstreamError).toBeTruthy();
    expect(r.data.at(-1)).toHaveProperty('error');
  });
});

describe('Responses relay', () => {
  it('relays a turn with nothing to hide byte for byte', () => {
    expect(relay(responsesApi, ['openai-responses/client-tool.sse']).text).toBe(
      rawOf('openai-responses/client-tool.sse'),
    );
  });

  it('hides injected items and tools, keeps sequence numbers and output indexes contiguous, sums usage', () => {
    const turns = ['openai-responses/injected-parallel.sse', 'openai-responses/after-tool.sse'];
    const r = relay(responsesApi, turns, { between: 'keepAlive' });
    expect(r.text).not.toContain('bmcp_');
    expect(r.data.map((d) => d.sequence_number)).toEqual(r.data.map((_, i) => i));
    expect(r.data.filter((d) => d.type === 'response.created')).toHaveLength(1);
    const indexes = r.data.filter((d) => typeof d.output_index === 'number').map((d) => d.output_index);
    expect(new Set(indexes)).toEqual(new Set([0]));
    const completed = r.data.at(-1);
    expect(completed.type).toBe('response.completed');
    expect(completed.response.output.map((o: any) => o.type)).toEqual(['message']);
    const sum = usageOf(...turns);
    expect(completed.response.usage).toMatchObject({
      input_tokens: sum.input_tokens,
      output_tokens: sum.output_tokens,
    });
    // The request's tools echoed back: the client's own only.
    const created = r.data.find((d) => d.type === 'response.created');
    expect(created.response.tools.map((t: any) => t.name)).toEqual(['get_weather']);
  });

  it('renumbers the client call that follows a hidden one', () => {
    const r = relay(responsesApi, ['openai-responses/mixed-tools.sse']);
    const items = r.data.filter((d) => d.type === 'response.output_item.added');
    expect(items.map((d) => [d.output_index, d.item.name])).toEqual([[0, 'get_weather']]);
    expect(r.data.at(-1).response.output.map((o: any) => o.name)).toEqual(['get_weather']);
  });

  it('relays response.failed and reports it', () => {
    const r = relay(responsesApi, ['openai-responses/mid-stream-error.sse']);
    expect(r.upstreamError).toBeTruthy();
    expect(r.data.at(-1).type).toBe('response.failed');
  });
});

describe.each([
  ['anthropic-messages', messagesApi],
  ['openai-chat', chatCompletionsApi],
  ['openai-responses', responsesApi],
] as const)('%s relay: what a turn says of itself', (dir, api) => {
  const said = (fixture: string, turn: Turn | undefined) => {
    expect(turn?.responseId).toBe(facts[fixture]!.response_id);
    expect(turn?.responseModel).toBe(responseModelOf(fixture));
    expect(turn?.finishReasons).toEqual([facts[fixture]!.stop_reason]);
  };

  it.each(['text', 'client-tool', 'thinking'])('reads the id, model and finish reason of %s.sse', (name) => {
    const fixture = `${dir}/${name}.sse`;
    said(fixture, relay(api, [fixture]).turns[0]);
  });

  it('reads each turn’s own, not the first’s', () => {
    const fixtures = [`${dir}/injected-tool.sse`, `${dir}/after-tool.sse`];
    const { turns } = relay(api, fixtures, { between: 'keepAlive' });
    for (const [i, fixture] of fixtures.entries()) said(fixture, turns[i]);
  });
});

describe('fail', () => {
  it.each([
    [messagesApi, /^event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"boom"\}\}\n\n$/],
    [chatCompletionsApi, /^data: \{"error":\{"message":"boom","type":"server_error"/],
    [responsesApi, /^event: error\ndata: \{"type":"error","code":"upstream_error","message":"boom"/],
  ] as const)('writes the provider’s own error event (%#)', (api, shape) => {
    let text = '';
    const view = new ClientView(ownsBmcp, api.callName);
    api.createRelay({ write: (t) => (text += t) }, { view, clientWantsUsage: true }).fail('upstream', 'boom');
    expect(text).toMatch(shape);
  });
});

describe('events relayed without parsing', () => {
  /** The same event, its data written with a space the providers never put there: every relay must parse it. */
  const spaced = (event: SseEvent): SseEvent => {
    if (!event.data.startsWith('{')) return event;
    const data = `{ ${event.data.slice(1)}`;
    return { ...event, data, raw: `${event.event ? `event: ${event.event}\n` : ''}data: ${data}\n\n` };
  };
  /** A text delta's text replaced, written as the provider would (escapes and all). */
  const retext =
    (texts: string[]) =>
    (event: SseEvent): SseEvent => {
      if (!event.data.startsWith('{')) return event;
      const data = JSON.parse(event.data);
      const text = texts[0];
      if (text === undefined) return event;
      if (data.delta?.type === 'text_delta') data.delta.text = text;
      else if (typeof data.choices?.[0]?.delta?.content === 'string' && data.choices[0].delta.content) {
        data.choices[0].delta.content = text;
      } else return event;
      texts.shift();
      const json = JSON.stringify(data);
      return { ...event, data: json, raw: `${event.event ? `event: ${event.event}\n` : ''}data: ${json}\n\n` };
    };
  const TRICKY = ['a "quoted" \\ word\n', '\ud83d', '\ude00', 'é→✓ ', '\u2028 \t end', ''];

  const SEQUENCES: Array<[string, ApiModule, string[]]> = [];
  for (const [dir, api] of [
    ['anthropic-messages', messagesApi],
    ['openai-chat', chatCompletionsApi],
    ['openai-responses', responsesApi],
  ] as const) {
    for (const name of ['text', 'cached', 'thinking', 'refusal', 'client-tool', 'parallel-tools', 'mixed-tools']) {
      SEQUENCES.push([`${dir}/${name}`, api, [`${dir}/${name}.sse`]]);
    }
    SEQUENCES.push([`${dir} tool loop`, api, [`${dir}/injected-tool.sse`, `${dir}/after-tool.sse`]]);
    SEQUENCES.push([`${dir} parallel loop`, api, [`${dir}/injected-parallel.sse`, `${dir}/after-tool.sse`]]);
    SEQUENCES.push([`${dir} error`, api, [`${dir}/mid-stream-error.sse`]]);
  }

  it.each(SEQUENCES)('%s: the client and the loop get what parsing every event gives', (_name, api, fixtures) => {
    const parse = vi.spyOn(JSON, 'parse');
    const fast = relay(api, fixtures, { between: 'keepAlive' });
    const fastParses = parse.mock.calls.length;
    parse.mockClear();
    const slow = relay(api, fixtures, { between: 'keepAlive', transform: spaced });
    const slowParses = parse.mock.calls.length;
    parse.mockRestore();
    expect(fast.events).toEqual(slow.events);
    expect(fast.turns).toEqual(slow.turns);
    expect(fast.upstreamError).toEqual(slow.upstreamError);
    expect(fastParses).toBeLessThanOrEqual(slowParses);
    if (fixtures[0]?.endsWith('/text.sse')) expect(fastParses).toBeLessThan(slowParses);
  });

  it.each([
    ['anthropic-messages/text.sse', messagesApi],
    ['openai-chat/text.sse', chatCompletionsApi],
  ] as const)('%s: text with escapes, non-ASCII and split surrogate pairs is gathered exactly', (fixture, api) => {
    const retexted = retext([...TRICKY]);
    const expected = relay(api, [fixture], { transform: (e) => spaced(retexted(e)) });
    const got = relay(api, [fixture], { transform: retext([...TRICKY]) });
    expect(got.turns).toEqual(expected.turns);
    expect(got.events).toEqual(expected.events);
    const output = JSON.stringify(got.turns[0]?.output);
    expect(output).toContain(JSON.stringify('a "quoted" \\ word\n').slice(1, -1));
    expect(output).toContain('😀');
  });
});
