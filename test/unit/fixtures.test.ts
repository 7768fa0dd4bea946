import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type FixtureFacts, type FixtureUsage, loadFixture, manifest } from '../helpers/upstream.ts';

/**
 * Every fixture parses, and an independent, deliberately simple reader of each one agrees with
 * `fixtures/manifest.json` (text, tool calls, thinking, usage as the bridge records it, ids).
 */

const root = new URL('../../fixtures/', import.meta.url);
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  // fixtures/agents/ belongs to the agent CLI suite and has a manifest of its own.
  .filter((f) => !f.startsWith('agents/'))
  .filter((f) => f.endsWith('.sse') || (f.endsWith('.json') && f.includes('/')))
  .sort();

interface SseEvent {
  event?: string;
  data: any; // parsed JSON, or the string '[DONE]'
}

/** Plain SSE parsing of the chunks the replayer would send. */
function sseEvents(path: string): { events: SseEvent[]; interrupted: boolean } {
  const fixture = loadFixture(path);
  if (fixture.kind !== 'sse') throw new Error(`${path} is not an SSE fixture`);
  const events: SseEvent[] = [];
  let interrupted = false;
  for (const chunk of fixture.chunks) {
    if ('cut' in chunk || 'hang' in chunk) interrupted = true;
    if (!('data' in chunk)) continue;
    expect(chunk.data.endsWith('\n\n')).toBe(true);
    let event: string | undefined;
    const data: string[] = [];
    for (const line of chunk.data.trimEnd().split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (!line.startsWith(':')) throw new Error(`${path}: unexpected line ${line}`);
    }
    const text = data.join('\n');
    events.push({ event, data: text === '[DONE]' ? text : JSON.parse(text) });
  }
  return { events, interrupted };
}

const facts = (partial: Partial<FixtureFacts>): FixtureFacts => ({
  text: null,
  refusal: null,
  tool_calls: [],
  thinking: null,
  stop_reason: null,
  usage: null,
  response_id: null,
  status: 200,
  error: false,
  ...partial,
});
const openaiUsage = (input: number, output: number, cached: number): FixtureUsage => ({
  input_tokens: input - cached,
  output_tokens: output,
  cache_read_input_tokens: cached,
  cache_write_input_tokens: 0,
});
const anthropicUsage = (u: any, output: number): FixtureUsage => ({
  input_tokens: u.input_tokens,
  output_tokens: output,
  cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
  cache_write_input_tokens: u.cache_creation_input_tokens ?? 0,
});
const append = (a: string | null, b: string) => (a ?? '') + b;

function readChatJson(b: any): FixtureFacts {
  const { message, finish_reason } = b.choices[0];
  return facts({
    text: message.content,
    refusal: message.refusal,
    tool_calls: (message.tool_calls ?? []).map((t: any) => ({
      id: t.id,
      name: t.function.name,
      arguments: JSON.parse(t.function.arguments),
    })),
    stop_reason: finish_reason,
    usage: openaiUsage(b.usage.prompt_tokens, b.usage.completion_tokens, b.usage.prompt_tokens_details.cached_tokens),
    response_id: b.id,
  });
}

function readChatSse(path: string): FixtureFacts {
  const { events } = sseEvents(path);
  const f = facts({ error: true });
  const calls: Array<{ id: string; name: string; args: string }> = [];
  for (const { data } of events) {
    if (data === '[DONE]') {
      f.error = false;
      continue;
    }
    if (data.error) continue;
    f.response_id = data.id;
    if (data.usage) {
      const u = data.usage;
      f.usage = openaiUsage(u.prompt_tokens, u.completion_tokens, u.prompt_tokens_details.cached_tokens);
    }
    const choice = data.choices[0];
    if (!choice) continue;
    if (typeof choice.delta.content === 'string') f.text = append(f.text, choice.delta.content);
    if (typeof choice.delta.refusal === 'string') f.refusal = append(f.refusal, choice.delta.refusal);
    for (const t of choice.delta.tool_calls ?? []) {
      calls[t.index] ??= { id: t.id, name: t.function.name, args: '' };
      calls[t.index]!.args += t.function.arguments ?? '';
    }
    if (choice.finish_reason) f.stop_reason = choice.finish_reason;
  }
  f.tool_calls = calls.map((c) => ({ id: c.id, name: c.name, arguments: JSON.parse(c.args) }));
  return f;
}

function readResponsesOutput(output: any[]) {
  let text: string | null = null;
  let refusal: string | null = null;
  const summaries: string[] = [];
  const tool_calls: FixtureFacts['tool_calls'] = [];
  for (const item of output) {
    if (item.type === 'reasoning') summaries.push(...item.summary.map((s: any) => s.text));
    if (item.type === 'function_call')
      tool_calls.push({ id: item.call_id, name: item.name, arguments: JSON.parse(item.arguments) });
    if (item.type !== 'message') continue;
    for (const part of item.content) {
      if (part.type === 'output_text') text = append(text, part.text);
      if (part.type === 'refusal') refusal = append(refusal, part.refusal);
    }
  }
  return { text, refusal, tool_calls, thinking: summaries.length ? summaries.join('\n\n') : null };
}

function readResponsesJson(b: any): FixtureFacts {
  const u = b.usage;
  return facts({
    ...readResponsesOutput(b.output),
    stop_reason: b.status,
    usage: openaiUsage(u.input_tokens, u.output_tokens, u.input_tokens_details.cached_tokens),
    response_id: b.id,
  });
}

function readResponsesSse(path: string): FixtureFacts {
  const { events } = sseEvents(path);
  const f = facts({ error: true });
  const calls = new Map<string, { id: string; name: string; args: string }>();
  const summaries = new Map<string, string>();
  events.forEach(({ event, data }, i) => {
    expect(data.type).toBe(event);
    expect(data.sequence_number).toBe(i);
    switch (data.type) {
      case 'response.created':
        f.response_id = data.response.id;
        break;
      case 'response.content_part.added':
        if (data.part.type === 'output_text') f.text ??= '';
        if (data.part.type === 'refusal') f.refusal ??= '';
        break;
      case 'response.output_text.delta':
        f.text = append(f.text, data.delta);
        break;
      case 'response.refusal.delta':
        f.refusal = append(f.refusal, data.delta);
        break;
      case 'response.reasoning_summary_text.delta': {
        const key = `${data.item_id}/${data.summary_index}`;
        summaries.set(key, (summaries.get(key) ?? '') + data.delta);
        break;
      }
      case 'response.output_item.added':
        if (data.item.type === 'function_call')
          calls.set(data.item.id, { id: data.item.call_id, name: data.item.name, args: '' });
        break;
      case 'response.function_call_arguments.delta':
        calls.get(data.item_id)!.args += data.delta;
        break;
      case 'response.completed': {
        const u = data.response.usage;
        f.usage = openaiUsage(u.input_tokens, u.output_tokens, u.input_tokens_details.cached_tokens);
        f.stop_reason = 'completed';
        f.error = false;
        // The final response object repeats everything the deltas said.
        const final = readResponsesOutput(data.response.output);
        expect(final.text).toBe(f.text);
        expect(final.thinking).toBe(summaries.size ? [...summaries.values()].join('\n\n') : null);
        break;
      }
      case 'response.failed':
        expect(data.response.error).toBeTruthy();
        f.stop_reason = 'failed';
        break;
    }
  });
  f.thinking = summaries.size ? [...summaries.values()].join('\n\n') : null;
  f.tool_calls = [...calls.values()].map((c) => ({ id: c.id, name: c.name, arguments: JSON.parse(c.args) }));
  return f;
}

function readAnthropicJson(b: any): FixtureFacts {
  const f = facts({
    stop_reason: b.stop_reason,
    usage: anthropicUsage(b.usage, b.usage.output_tokens),
    response_id: b.id,
  });
  for (const block of b.content) {
    if (block.type === 'text') f.text = append(f.text, block.text);
    if (block.type === 'thinking') f.thinking = append(f.thinking, block.thinking);
    if (block.type === 'tool_use') f.tool_calls.push({ id: block.id, name: block.name, arguments: block.input });
  }
  return f;
}

function readAnthropicSse(path: string): FixtureFacts {
  const { events } = sseEvents(path);
  const f = facts({ error: true });
  const blocks: any[] = [];
  let start: any;
  for (const { event, data } of events) {
    expect(data.type).toBe(event);
    switch (data.type) {
      case 'message_start':
        start = data.message.usage;
        f.response_id = data.message.id;
        f.usage = anthropicUsage(start, start.output_tokens);
        break;
      case 'content_block_start':
        blocks[data.index] = { ...data.content_block, json: '' };
        if (data.content_block.type === 'text') f.text ??= '';
        if (data.content_block.type === 'thinking') f.thinking ??= '';
        break;
      case 'content_block_delta': {
        const d = data.delta;
        if (d.type === 'text_delta') f.text = append(f.text, d.text);
        if (d.type === 'thinking_delta') f.thinking = append(f.thinking, d.thinking);
        if (d.type === 'signature_delta') expect(d.signature.length).toBeGreaterThan(100);
        if (d.type === 'input_json_delta') blocks[data.index].json += d.partial_json;
        break;
      }
      case 'content_block_stop': {
        const block = blocks[data.index];
        if (block.type === 'tool_use')
          f.tool_calls.push({ id: block.id, name: block.name, arguments: JSON.parse(block.json) });
        break;
      }
      case 'message_delta':
        f.stop_reason = data.delta.stop_reason;
        f.usage = anthropicUsage(start, data.usage.output_tokens);
        break;
      case 'message_stop':
        f.error = false;
        break;
      case 'error':
        expect(data.error.type).toBeTruthy();
        break;
    }
  }
  return f;
}

function read(path: string): FixtureFacts {
  const [api] = path.split('/');
  if (path.endsWith('.sse')) {
    if (api === 'openai-chat') return readChatSse(path);
    if (api === 'openai-responses') return readResponsesSse(path);
    if (api === 'anthropic-messages') return readAnthropicSse(path);
    throw new Error(`no SSE reader for ${path}`);
  }
  const file = JSON.parse(readFileSync(new URL(path, root), 'utf8'));
  if (file.status >= 400) return facts({ status: file.status, error: true });
  if (api === 'openai-chat') return readChatJson(file.body);
  if (api === 'openai-responses') return readResponsesJson(file.body);
  if (api === 'anthropic-messages') return readAnthropicJson(file.body);
  return facts({ status: file.status });
}

describe('fixtures', () => {
  it('are all listed in the manifest, and only they', () => {
    expect(files.length).toBeGreaterThan(60);
    expect(Object.keys(manifest()).sort()).toEqual(files);
  });

  it('have the provider error shape on HTTP errors', () => {
    for (const path of files.filter((f) => f.includes('/http-'))) {
      const fixture = loadFixture(path);
      if (fixture.kind !== 'json') throw new Error(path);
      const body = JSON.parse(fixture.body);
      if (path.startsWith('anthropic')) {
        expect(body).toMatchObject({ type: 'error', error: { type: expect.any(String), message: expect.any(String) } });
        expect(body.request_id).toBe(fixture.headers['request-id']);
      } else {
        expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      }
      if (path.endsWith('429.json')) expect(Number(fixture.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('end OpenAI Chat streams with a usage chunk and [DONE] unless they fail', () => {
    for (const path of files.filter((f) => f.startsWith('openai-chat/') && f.endsWith('.sse'))) {
      const { events } = sseEvents(path);
      if (manifest()[path]!.error) continue;
      expect(events.at(-1)!.data).toBe('[DONE]');
      expect(events.at(-2)!.data.choices).toEqual([]);
    }
  });

  it('use distinct response ids and distinct usage', () => {
    const entries = Object.values(manifest());
    const ids = entries.flatMap((f) => (f.response_id ? [f.response_id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    const usages = entries.flatMap((f) => (f.usage ? [JSON.stringify(f.usage)] : []));
    expect(new Set(usages).size).toBe(usages.length);
  });

  it.each(files)('%s agrees with the manifest', (path) => {
    expect(read(path)).toEqual(manifest()[path]);
  });
});
