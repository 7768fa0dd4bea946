import { responsesResults } from '../client-results.ts';
import type { ClientView } from '../client-view.ts';
import { openaiUsage, textOnlyResult, validateModel } from '../openai-common.ts';
import { openingUserMessage, textOf } from '../prompt.ts';
import { toolFormatter } from '../tool-format.ts';
import type { ApiModule, Json, Turn, Usage } from '../types.ts';
import { tokenCount, validateCommon } from '../validate.ts';

export const responsesUsage = (usage: Json | undefined | null): Usage | null =>
  openaiUsage(usage, 'input_tokens', 'output_tokens', 'input_tokens_details');

/** A response object as the client may see it: without the injected tools it echoes. */
export function withoutInjectedTools(response: Json, view: ClientView): Json {
  if (!Array.isArray(response.tools)) return response;
  const tools = (response.tools as Json[]).filter((t) => !(t.type === 'function' && view.owns(t.name)));
  return tools.length === response.tools.length ? response : { ...response, tools };
}

/** The turn of one complete response object. */
export function responseTurn(response: Json, output: Json[] = response.output ?? []): Turn {
  return {
    responseId: response.id ?? null,
    responseModel: response.model ?? null,
    // Responses has no finish reason: its status, or why it is incomplete (`max_output_tokens`).
    finishReasons: response.incomplete_details?.reason
      ? [String(response.incomplete_details.reason)]
      : response.status
        ? [String(response.status)]
        : [],
    usage: responsesUsage(response.usage),
    toolCalls: output
      .filter((item) => item.type === 'function_call')
      .map((item) => ({ id: item.call_id, name: item.name, arguments: item.arguments ?? '' })),
    thoughts: output
      .filter((item) => item.type === 'reasoning')
      .map((item) => ((item.summary ?? []) as Json[]).map((s) => s.text).join('\n\n'))
      .filter(Boolean),
    output,
  };
}

function promptOf(body: Json): string | null {
  if (typeof body.input === 'string') return body.input;
  return Array.isArray(body.input) ? textOf(openingUserMessage(body.input), 'input_text', 'joined') : null;
}

const formatTools = toolFormatter((t) => ({
  type: 'function',
  name: t.name,
  description: t.description,
  parameters: t.inputSchema,
  strict: false,
}));

export const responsesPayload: Omit<ApiModule, 'createRelay' | 'mergeResponses'> = {
  family: 'openai',
  path: '/v1/responses',
  thoughtSource: 'reasoning_summary',
  echoesTools: true,

  validate(body) {
    const model = validateModel(body);
    if (model) return model;
    const input = body.input;
    if (typeof input === 'string' || Array.isArray(input)) return validateCommon(body, 'input');
    if (input === undefined && (body.previous_response_id || body.conversation)) return validateCommon(body, 'input');
    return 'input: a string or an array of input items is required';
  },

  prompt: promptOf,

  results: responsesResults,

  costHints: (body) => ({
    maxOutput: tokenCount(body.max_output_tokens),
    answers: 1,
    storedInput: !!(body.previous_response_id || body.conversation),
  }),

  formatTools,

  prepareStreaming() {
    return { clientWantsUsage: true };
  },

  disableTools(body) {
    body.tool_choice = 'none';
  },

  appendToolResults(body, turn, exchanges) {
    const outputs = exchanges.map((e) => ({
      type: 'function_call_output',
      call_id: e.call.id,
      output: e.output,
    }));
    if (body.store !== false && turn.responseId && !body.conversation) {
      // Stored responses chain: the upstream already holds this turn's input and output.
      body.previous_response_id = turn.responseId;
      body.input = outputs;
      return;
    }
    const input: Json[] =
      typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : [...(body.input ?? [])];
    // Unstored reasoning can only be replayed with its encrypted content.
    const items = (turn.output as Json[]).filter((item) => item.type !== 'reasoning' || item.encrypted_content);
    body.input = [...input, ...items, ...outputs];
  },

  resultText: textOnlyResult,

  callName: (item) => (item.type === 'function_call' ? String(item.name) : undefined),

  parseResponse: (json) => responseTurn(json),
};
