import type { ToolCallResult } from '../../mcp/types.ts';
import { messagesResults } from '../client-results.ts';
import { openingUserMessage, textOf } from '../prompt.ts';
import { toolFormatter } from '../tool-format.ts';
import type { ApiModule, Json, Turn, Usage } from '../types.ts';
import { tokenCount, validateCommon } from '../validate.ts';

/** Anthropic usage → the recorded counts (README "Token figures"): cache creation is the cache write. */
export function messagesUsage(usage: Json | undefined): Usage | null {
  if (!usage) return null;
  const { input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, ...rest } = usage;
  return {
    input_tokens: input_tokens ?? 0,
    output_tokens: output_tokens ?? 0,
    cache_read_input_tokens: cache_read_input_tokens ?? 0,
    cache_write_input_tokens: cache_creation_input_tokens ?? 0,
    metadata: rest,
  };
}

/** The turn of a complete message (blocking body, or one rebuilt from a stream). */
export function messageTurn(message: Json): Turn {
  const content: Json[] = Array.isArray(message.content) ? message.content : [];
  return {
    responseId: message.id ?? null,
    responseModel: message.model ?? null,
    finishReasons: message.stop_reason ? [String(message.stop_reason)] : [],
    usage: messagesUsage(message.usage),
    toolCalls: content
      .filter((b) => b.type === 'tool_use')
      .map((b) => ({ id: b.id, name: b.name, arguments: JSON.stringify(b.input ?? {}) })),
    thoughts: content.filter((b) => b.type === 'thinking' && b.thinking).map((b) => b.thinking as string),
    output: content,
  };
}

const lastUserText = (body: Json) => textOf(openingUserMessage(body.messages), 'text', 'last');

/** A tool result as content blocks: Anthropic takes images as images. */
function toolResultContent(result: ToolCallResult): Json[] {
  const blocks: Json[] = result.content.map((c) =>
    c.type === 'text'
      ? { type: 'text', text: c.text }
      : { type: 'image', source: { type: 'base64', media_type: c.mimeType, data: c.data } },
  );
  if (!blocks.length && result.error) blocks.push({ type: 'text', text: result.error });
  return blocks;
}

/** The text blocks the model was given, one per line; an image it was given is noted, not copied. */
function resultText(result: ToolCallResult): string {
  return toolResultContent(result)
    .map((b) =>
      b.type === 'text'
        ? b.text
        : `[image ${b.source.media_type}, ${Math.round((b.source.data.length * 3) / 4)} bytes]`,
    )
    .join('\n');
}

const formatTools = toolFormatter((t) => ({ name: t.name, description: t.description, input_schema: t.inputSchema }));

export const messagesPayload: Omit<ApiModule, 'createRelay' | 'mergeResponses'> = {
  family: 'anthropic',
  path: '/v1/messages',
  thoughtSource: 'thinking',
  echoesTools: false,

  validate(body, modelInBody = true) {
    if (modelInBody && (typeof body.model !== 'string' || !body.model)) return 'model: a model name is required';
    if (!Array.isArray(body.messages)) return 'messages: an array of messages is required';
    return validateCommon(body, 'messages');
  },

  prompt: lastUserText,

  results: messagesResults,

  costHints: (body) => ({ maxOutput: tokenCount(body.max_tokens), answers: 1, storedInput: false }),

  formatTools,

  prepareStreaming() {
    return { clientWantsUsage: true };
  },

  disableTools(body) {
    body.tool_choice = { type: 'none' };
  },

  appendToolResults(body, turn, exchanges) {
    body.messages.push({ role: 'assistant', content: turn.output });
    body.messages.push({
      role: 'user',
      content: exchanges.map((e) => ({
        type: 'tool_result',
        tool_use_id: e.call.id,
        content: toolResultContent(e.result),
        ...(e.result.isError ? { is_error: true } : {}),
      })),
    });
  },

  resultText,

  callName: (block) => (block.type === 'tool_use' ? String(block.name) : undefined),

  parseResponse: messageTurn,
};
