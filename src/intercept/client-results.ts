import type { Json } from './json.ts';
import type { ClientToolResult, ResultReader } from './types.ts';

/**
 * The results of the client's own tools a request carries (README "What is recorded"), read where
 * the body is parsed anyway. Only those after the conversation's last assistant turn: they answer
 * the previous response's calls. A client that resends the whole conversation every turn (Claude
 * Code, Codex) repeats every earlier result too, and those were recorded when they were new.
 */

/** Results taken from one request, at most: the last ones (a turn's parallel calls are far fewer). */
export const MAX_RESULTS_PER_REQUEST = 64;

/** A part of a result that is not text, described in a few words (its bytes are not kept). */
function describePart(part: Json): string {
  const type = typeof part?.type === 'string' ? part.type : 'unknown';
  const media = part?.source?.media_type ?? part?.media_type ?? part?.mime_type;
  return `[${type}${typeof media === 'string' ? ` ${media}` : ''}]`;
}

/** A result's content as text: a string as it is, text parts joined by newlines, other parts described. */
export function resultText(content: unknown, textTypes: ReadonlySet<string>): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : JSON.stringify(content);
  return (content as Json[])
    .map((part) => (textTypes.has(part?.type) && typeof part.text === 'string' ? part.text : describePart(part)))
    .join('\n');
}

/** A reader of the items after the last one `isAssistant` names, each giving what `take` finds in it. */
function reader(
  member: ResultReader['member'],
  isAssistant: (item: Json) => boolean,
  take: (item: Json) => ClientToolResult[],
): ResultReader {
  return {
    member,
    start(items) {
      let i = items.length;
      while (i > 0 && !isAssistantItem(items[i - 1], isAssistant)) i--;
      return i;
    },
    // Back from the end, so a run of thousands stops at the last MAX_RESULTS_PER_REQUEST.
    read(items) {
      const found: ClientToolResult[] = [];
      for (let i = items.length - 1; i >= 0 && found.length < MAX_RESULTS_PER_REQUEST; i--) {
        const item = items[i] as Json;
        if (item && typeof item === 'object') found.push(...take(item).reverse());
      }
      return found.slice(0, MAX_RESULTS_PER_REQUEST).reverse();
    },
  };
}

const isAssistantItem = (item: unknown, isAssistant: (item: Json) => boolean) =>
  !!item && typeof item === 'object' && isAssistant(item as Json);

/** The results a body carries, as its parse reads them (client-body.ts: exact only where ASCII). */
export function resultsIn(results: ResultReader, body: Json): ClientToolResult[] {
  const items = body[results.member];
  return Array.isArray(items) ? results.read(items.slice(results.start(items))) : [];
}

const ANTHROPIC_TEXT = new Set(['text']);

/** Anthropic Messages: `tool_result` blocks of the user turns after the last assistant turn. */
export const messagesResults = reader(
  'messages',
  (m) => m.role === 'assistant',
  (m) =>
    Array.isArray(m.content)
      ? (m.content as Json[])
          .filter((b) => b?.type === 'tool_result' && typeof b.tool_use_id === 'string')
          .map((b) => ({
            callId: b.tool_use_id as string,
            output: resultText(b.content, ANTHROPIC_TEXT),
            isError: b.is_error === true,
          }))
      : [],
);

const RESPONSES_TEXT = new Set(['input_text', 'output_text', 'text']);

/** Items a model produces: its messages, reasoning, and every kind of call (`…_call`). */
const isModelItem = (item: Json) =>
  item.role === 'assistant' ||
  item.type === 'reasoning' ||
  (typeof item.type === 'string' && item.type.endsWith('_call'));

/** OpenAI Responses: `function_call_output` items after the last item the model produced. */
export const responsesResults = reader('input', isModelItem, (item) =>
  item.type === 'function_call_output' && typeof item.call_id === 'string'
    ? [{ callId: item.call_id, output: resultText(item.output, RESPONSES_TEXT), isError: null }]
    : [],
);

const CHAT_TEXT = new Set(['text']);

/** OpenAI Chat Completions: `role: tool` messages after the last assistant message. */
export const chatResults = reader(
  'messages',
  (m) => m.role === 'assistant',
  (m) =>
    m.role === 'tool' && typeof m.tool_call_id === 'string'
      ? [{ callId: m.tool_call_id, output: resultText(m.content, CHAT_TEXT), isError: null }]
      : [],
);
