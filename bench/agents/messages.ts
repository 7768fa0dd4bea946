// Anthropic Messages in the agents benchmark: what its upstream checks in a request and answers
// (streamed in groups the upstream paces), and how its client reads the answer back.
import { type Answer, decide, INJECTED_ID, INJECTED_TOOL, parsePlan, Refusal } from './model.ts';
import { events, sse } from './sse.ts';

type Json = Record<string, any>;
type Block = Json & { type: string };

const contentOf = (message: Json): Block[] =>
  typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : (message.content ?? []);

/** What the real API refuses and a gateway could break: shapes, tool pairs, names, breakpoints. */
function check(body: Json): void {
  if (typeof body.model !== 'string') throw new Refusal(400, 'model: Field required');
  if (!Number.isInteger(body.max_tokens)) throw new Refusal(400, 'max_tokens: Field required');
  const messages: Json[] = Array.isArray(body.messages) ? body.messages : [];
  if (!messages.length) throw new Refusal(400, 'messages: at least one message is required');
  let breakpoints = 0;
  const count = (blocks: unknown) => {
    if (Array.isArray(blocks)) for (const b of blocks) if (b?.cache_control) breakpoints++;
  };
  count(body.system);
  count(body.tools);
  messages.forEach((message, i) => {
    const blocks = contentOf(message);
    count(blocks);
    const results = blocks.filter((b) => b.type === 'tool_result');
    if (!results.length) return;
    const previous = messages[i - 1];
    const uses = new Set(
      previous?.role === 'assistant' ? contentOf(previous).flatMap((b) => (b.type === 'tool_use' ? [b.id] : [])) : [],
    );
    for (const r of results) {
      if (!uses.has(r.tool_use_id))
        throw new Refusal(400, `messages.${i}: tool_result ${r.tool_use_id} has no tool_use in the previous message`);
    }
  });
  if (breakpoints > 4) throw new Refusal(400, 'A maximum of 4 blocks with cache_control may be provided');
  const names = (body.tools ?? []).map((t: Json) => t.name);
  if (new Set(names).size !== names.length) throw new Refusal(400, 'tools: Tool names must be unique');
}

/** The model's answer to a Messages request (400 and the reason when the real API would refuse it). */
export function answerMessages(body: Json): Answer {
  check(body);
  const messages: Json[] = body.messages;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as Json;
    if (message.role !== 'user') continue;
    const text = contentOf(message).find((b) => b.type === 'text' && parsePlan(b.text));
    if (!text) continue;
    const plan = parsePlan(text.text) as NonNullable<ReturnType<typeof parsePlan>>;
    const later = messages.slice(i + 1);
    const done = later
      .filter((m) => m.role === 'assistant')
      .flatMap(contentOf)
      .filter((b) => b.type === 'tool_use' && !String(b.id).startsWith(INJECTED_ID.anthropic)).length;
    const last = contentOf(messages.at(-1) as Json);
    const afterInjected = last.some(
      (b) => b.type === 'tool_result' && String(b.tool_use_id).startsWith(INJECTED_ID.anthropic),
    );
    const injected = (body.tools ?? []).find((t: Json) => INJECTED_TOOL.test(t.name))?.name;
    return decide('anthropic', plan, done, afterInjected, injected);
  }
  return { text: 'Capping the retry backoff' }; // a side request: no plan, a short answer
}

const usage = (inputBytes: number, output: number) => ({
  input_tokens: Math.ceil(inputBytes / 400),
  cache_creation_input_tokens: Math.ceil(inputBytes / 200),
  cache_read_input_tokens: Math.ceil(inputBytes / 5),
  output_tokens: output,
});

/** The answer as SSE, in groups: the first after the time to first token, then one per token interval. */
export function messagesStream(answer: Answer, model: string, deltas: string[], inputBytes: number): string[] {
  const id = `msg_01Bench${'id' in answer ? answer.id.slice(-12) : 'Text'}`;
  const groups = [
    sse('message_start', {
      type: 'message_start',
      message: {
        model,
        id,
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage(inputBytes, 1), service_tier: 'standard' },
      },
    }) +
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
      sse('ping', { type: 'ping' }),
  ];
  const text = [answer.text, ...deltas];
  for (const piece of text) {
    groups.push(
      sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }),
    );
  }
  let closing = sse('content_block_stop', { type: 'content_block_stop', index: 0 });
  if ('tool' in answer) {
    closing += sse('content_block_start', {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: answer.id, name: answer.tool, input: {} },
    });
    groups.push(closing);
    const json = JSON.stringify(answer.input);
    const third = Math.ceil(json.length / 3);
    for (let at = 0; at < json.length; at += third) {
      groups.push(
        sse('content_block_delta', {
          type: 'content_block_delta',
          index: 1,
          delta: { type: 'input_json_delta', partial_json: json.slice(at, at + third) },
        }),
      );
    }
    closing = sse('content_block_stop', { type: 'content_block_stop', index: 1 });
  }
  const output = text.join('').length / 4 + ('tool' in answer ? 40 : 0);
  groups.push(
    closing +
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: 'tool' in answer ? 'tool_use' : 'end_turn', stop_sequence: null },
        usage: { ...usage(inputBytes, Math.ceil(output)) },
      }) +
      sse('message_stop', { type: 'message_stop' }),
  );
  return groups;
}

/** The blocking answer (side requests). */
export function messagesJson(answer: Answer, model: string, inputBytes: number): string {
  return JSON.stringify({
    model,
    id: 'msg_01BenchSide',
    type: 'message',
    role: 'assistant',
    content: [{ type: 'text', text: answer.text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { ...usage(inputBytes, 8), service_tier: 'standard' },
  });
}

/** What the client saw: the assistant's content blocks, or why the stream is not a whole answer. */
export function readMessagesStream(text: string): { content: Block[]; stop: string | null } {
  const content: Block[] = [];
  const partial: string[] = [];
  let stop: string | null = null;
  let ended = false;
  for (const e of events(text)) {
    if (e.type === 'error') throw new Error(`stream error: ${e.error?.message ?? JSON.stringify(e)}`);
    if (e.type === 'content_block_start') {
      content[e.index] = { ...e.content_block };
      partial[e.index] = '';
    } else if (e.type === 'content_block_delta') {
      const block = content[e.index] as Block;
      if (e.delta.type === 'text_delta') block.text += e.delta.text;
      else if (e.delta.type === 'input_json_delta') partial[e.index] += e.delta.partial_json;
    } else if (e.type === 'content_block_stop') {
      const block = content[e.index] as Block;
      if (block.type === 'tool_use') block.input = JSON.parse(partial[e.index] || '{}');
    } else if (e.type === 'message_delta') {
      stop = e.delta?.stop_reason ?? null;
    } else if (e.type === 'message_stop') {
      ended = true;
    }
  }
  if (!ended) throw new Error('stream ended without message_stop');
  return { content: content.filter(Boolean), stop };
}
