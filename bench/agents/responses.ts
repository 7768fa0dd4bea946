// OpenAI Responses in the agents benchmark: what its upstream checks in a request and answers
// (streamed in groups the upstream paces), and how its client reads the answer back.
import { type Answer, decide, INJECTED_ID, INJECTED_TOOL, parsePlan, Refusal } from './model.ts';
import { events, sse } from './sse.ts';

type Json = Record<string, any>;

/** Encrypted reasoning as Codex asks for it back (include: reasoning.encrypted_content): opaque bytes it resends. */
const ENCRYPTED = `gAAAAA${'Qm9vdHN0cmFwcGluZyB0aGUgcmV0cnkgYmFja29mZiByZWFzb25pbmc'.repeat(24)}`;

/** What the real API refuses and a gateway could break: shapes, call outputs without their call, tool names. */
function check(body: Json): void {
  if (typeof body.model !== 'string') throw new Refusal(400, "Missing required parameter: 'model'.");
  if (!Array.isArray(body.input)) throw new Refusal(400, "Invalid type for 'input': expected an array.");
  const calls = new Set<string>();
  for (const item of body.input as Json[]) {
    if (item.type === 'function_call') calls.add(item.call_id);
    if (item.type === 'function_call_output' && !calls.has(item.call_id))
      throw new Refusal(400, `No tool call found for function call output with call_id ${item.call_id}.`);
  }
  const names = (body.tools ?? []).flatMap((t: Json) => (t.type === 'function' ? [t.name] : []));
  if (new Set(names).size !== names.length) throw new Refusal(400, 'tools: function names must be unique');
}

const textOf = (item: Json) =>
  typeof item.content === 'string' ? item.content : (item.content ?? []).map((c: Json) => c.text ?? '').join('');

export function answerResponses(body: Json): Answer {
  check(body);
  const input: Json[] = body.input;
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i] as Json;
    if (item.role !== 'user') continue;
    const plan = parsePlan(textOf(item));
    if (!plan) continue;
    const later = input.slice(i + 1);
    const done = later.filter(
      (it) => it.type === 'function_call' && !String(it.call_id).startsWith(INJECTED_ID.openai),
    ).length;
    const last = input.at(-1) as Json;
    const afterInjected = last.type === 'function_call_output' && String(last.call_id).startsWith(INJECTED_ID.openai);
    const injected = (body.tools ?? []).find((t: Json) => t.type === 'function' && INJECTED_TOOL.test(t.name))?.name;
    return decide('openai', plan, done, afterInjected, injected);
  }
  return { text: 'Capping the retry backoff' };
}

/** The answer as SSE, in groups: the first after the time to first token, then one per token interval. */
export function responsesStream(answer: Answer, model: string, deltas: string[], inputBytes: number): string[] {
  const tag = 'id' in answer ? answer.id.slice(-12) : 'Text';
  const response = {
    id: `resp_bench${tag}`,
    object: 'response',
    created_at: 1795856400,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output: [] as Json[],
    parallel_tool_calls: false,
    previous_response_id: null,
    reasoning: { effort: 'medium', summary: 'auto' },
    store: false,
    temperature: 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: null as Json | null,
    metadata: {},
  };
  let sequence = 0;
  const event = (type: string, data: Json) => sse(type, { type, sequence_number: sequence++, ...data });
  const reasoning = { id: `rs_bench${tag}`, type: 'reasoning', summary: [], encrypted_content: ENCRYPTED };
  const messageId = `msg_bench${tag}`;
  const text = [answer.text, ...deltas];
  const full = text.join('');
  const part = { type: 'output_text', annotations: [], logprobs: [], text: full };
  const message = { id: messageId, type: 'message', status: 'completed', content: [part], role: 'assistant' };
  const groups = [
    event('response.created', { response }) +
      event('response.in_progress', { response }) +
      event('response.output_item.added', { output_index: 0, item: { ...reasoning, encrypted_content: null } }) +
      event('response.output_item.done', { output_index: 0, item: reasoning }) +
      event('response.output_item.added', {
        output_index: 1,
        item: { id: messageId, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
      }) +
      event('response.content_part.added', {
        item_id: messageId,
        output_index: 1,
        content_index: 0,
        part: { ...part, text: '' },
      }),
  ];
  for (const delta of text) {
    groups.push(
      event('response.output_text.delta', {
        item_id: messageId,
        output_index: 1,
        content_index: 0,
        delta,
        logprobs: [],
      }),
    );
  }
  let closing =
    event('response.output_text.done', { item_id: messageId, output_index: 1, content_index: 0, text: full }) +
    event('response.content_part.done', { item_id: messageId, output_index: 1, content_index: 0, part }) +
    event('response.output_item.done', { output_index: 1, item: message });
  const output: Json[] = [reasoning, message];
  if ('tool' in answer) {
    const args = JSON.stringify(answer.input);
    const call = { id: `fc_bench${tag}`, type: 'function_call', status: 'completed', arguments: args };
    const item = { ...call, call_id: answer.id, name: answer.tool };
    groups.push(
      `${closing}${event('response.output_item.added', { output_index: 2, item: { ...item, status: 'in_progress', arguments: '' } })}`,
    );
    const third = Math.ceil(args.length / 3);
    for (let at = 0; at < args.length; at += third) {
      groups.push(
        event('response.function_call_arguments.delta', {
          item_id: call.id,
          output_index: 2,
          delta: args.slice(at, at + third),
        }),
      );
    }
    closing =
      event('response.function_call_arguments.done', { item_id: call.id, output_index: 2, arguments: args }) +
      event('response.output_item.done', { output_index: 2, item });
    output.push(item);
  }
  const outputTokens = Math.ceil(full.length / 4) + ('tool' in answer ? 40 : 0) + 64;
  const inputTokens = Math.ceil(inputBytes / 4);
  const cached = Math.floor(inputTokens * 0.9);
  groups.push(
    closing +
      event('response.completed', {
        response: {
          ...response,
          status: 'completed',
          output,
          usage: {
            input_tokens: inputTokens,
            input_tokens_details: { cached_tokens: cached },
            output_tokens: outputTokens,
            output_tokens_details: { reasoning_tokens: 64 },
            total_tokens: inputTokens + outputTokens,
          },
        },
      }),
  );
  return groups;
}

/** What the client saw: the output items, as Codex sends them back in its next request. */
export function readResponsesStream(text: string): { items: Json[] } {
  const items: Json[] = [];
  let completed = false;
  for (const e of events(text)) {
    if (e.type === 'error' || e.type === 'response.failed')
      throw new Error(`stream error: ${e.message ?? e.response?.error?.message ?? JSON.stringify(e)}`);
    if (e.type === 'response.output_item.done') items.push(e.item);
    if (e.type === 'response.completed') completed = true;
  }
  if (!completed) throw new Error('stream ended without response.completed');
  return { items };
}
