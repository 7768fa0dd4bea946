import { chatResults } from '../client-results.ts';
import { openaiUsage, textOnlyResult, validateModel } from '../openai-common.ts';
import { openingUserMessage, textOf } from '../prompt.ts';
import { toolFormatter } from '../tool-format.ts';
import type { ApiModule, Json, Turn, Usage } from '../types.ts';
import { tokenCount, validateCommon } from '../validate.ts';

export const chatUsage = (usage: Json | undefined | null): Usage | null =>
  openaiUsage(usage, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details');

/** What a completion says of itself besides its message: id, model, finish reasons. */
export interface ChatMeta {
  id: string | null;
  model: string | null;
  finishReasons: string[];
}

/** The turn of one assistant message (blocking body, or rebuilt from chunks). */
export function chatTurn(meta: ChatMeta, message: Json, usage: Json | undefined | null): Turn {
  const calls: Json[] = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  return {
    responseId: meta.id,
    responseModel: meta.model,
    finishReasons: meta.finishReasons,
    usage: chatUsage(usage),
    toolCalls: calls.map((c) => ({ id: c.id, name: c.function?.name ?? '', arguments: c.function?.arguments ?? '' })),
    // Some OpenAI-compatible upstreams stream reasoning as `reasoning_content`.
    thoughts:
      typeof message.reasoning_content === 'string' && message.reasoning_content ? [message.reasoning_content] : [],
    output: { role: 'assistant', content: message.content ?? null, ...(calls.length ? { tool_calls: calls } : {}) },
  };
}

const lastUserText = (body: Json) => textOf(openingUserMessage(body.messages), 'text', 'last');

const formatTools = toolFormatter((t) => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: t.inputSchema },
}));

export const chatPayload: Omit<ApiModule, 'createRelay' | 'mergeResponses'> = {
  family: 'openai',
  path: '/v1/chat/completions',
  thoughtSource: 'reasoning_content',
  echoesTools: false,

  validate(body, modelInBody = true) {
    // An Azure deployment route names the model in its URL: the body's is optional there.
    const model = modelInBody ? validateModel(body) : null;
    if (!Array.isArray(body.messages)) return model ?? 'messages: an array of messages is required';
    return model ?? validateCommon(body, 'messages');
  },

  prompt: lastUserText,

  results: chatResults,

  costHints: (body) => ({
    maxOutput: tokenCount(body.max_completion_tokens) ?? tokenCount(body.max_tokens),
    answers: tokenCount(body.n) ?? 1,
    storedInput: false,
  }),

  formatTools,

  prepareStreaming(body) {
    if (body.stream_options?.include_usage === true) return { clientWantsUsage: true };
    body.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
    return { clientWantsUsage: false, changed: ['stream_options'] };
  },

  disableTools(body) {
    body.tool_choice = 'none';
  },

  appendToolResults(body, turn, exchanges) {
    body.messages.push(turn.output);
    for (const exchange of exchanges) {
      body.messages.push({ role: 'tool', tool_call_id: exchange.call.id, content: exchange.output });
    }
  },

  resultText: textOnlyResult,

  callName: (call) => call.function?.name ?? '',

  parseResponse(json) {
    const choices: Json[] = Array.isArray(json.choices) ? json.choices : [];
    const meta = {
      id: json.id ?? null,
      model: json.model ?? null,
      finishReasons: choices.flatMap((c) => (c.finish_reason ? [String(c.finish_reason)] : [])),
    };
    return chatTurn(meta, choices[0]?.message ?? {}, json.usage);
  },
};
