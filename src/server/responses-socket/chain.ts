import type { Json } from '../../intercept/types.ts';

/**
 * The last response on a socket, as the client will chain to it: its id, the full input it
 * answered, and the output items the client received (`response.output_item.done`, injected
 * tool calls left out as the client never saw them).
 */
export interface LastResponse {
  id: string;
  input: unknown[];
  output: unknown[];
}

/** Members of `response.create` that belong to the WebSocket transport, not to an HTTP request. */
const TRANSPORT_ONLY = new Set(['type', 'previous_response_id', 'generate', 'client_metadata', 'stream_id']);

/** `client_metadata` entries that Codex sends as request headers over HTTP. */
const CODEX_HEADER = /^x-codex-(?!ws-)[a-z0-9-]{1,64}$/;
/** A header value Node sends as is: visible ASCII and tabs, no line breaks. */
const HEADER_VALUE = /^[\t\x20-\x7e]{0,8192}$/;
const MAX_METADATA_HEADERS = 16;

/** The request's input as items: a string is one user message, as the API reads it. */
function inputItems(input: unknown): unknown[] | undefined {
  if (input === undefined) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input : undefined;
}

export type Chained =
  | { input: unknown; fullInput: unknown[] | undefined; chained: boolean }
  | { error: 'previous_response_not_found' | 'invalid_input'; message: string };

/**
 * The full input a `response.create` stands for. Chained (`previous_response_id`), it carries
 * only what is new: the full input is the last response's, its output items, then these (the
 * transport keeps only the socket's last response, as OpenAI's does). `input` is what the HTTP
 * request carries; `fullInput` is kept for the next link (undefined when the input is not a list
 * the client could extend).
 */
export function chain(message: Json, last: LastResponse | undefined): Chained {
  const previous = message.previous_response_id;
  const items = inputItems(message.input);
  if (previous === undefined || previous === null) return { input: message.input, fullInput: items, chained: false };
  if (typeof previous !== 'string' || !last || previous !== last.id) {
    return {
      error: 'previous_response_not_found',
      message: `Previous response with id '${String(previous).slice(0, 200)}' not found on this connection: only the last response of a WebSocket can be continued; send the full input.`,
    };
  }
  if (!items) return { error: 'invalid_input', message: 'input: a string or an array of input items is required' };
  const fullInput = [...last.input, ...last.output, ...items];
  return { input: fullInput, fullInput, chained: true };
}

/**
 * The HTTP request a `response.create` stands for: its members but those of the transport, the
 * full input, and `stream: true` (the transport always streams). Codex's per-request metadata
 * (`client_metadata`: its turn, window and installation ids), which it sends as `x-codex-*`
 * headers over HTTP, become those headers again.
 */
export function httpRequest(message: Json, input: unknown): { body: Json; headers: Record<string, string> } {
  const body: Json = {};
  for (const [name, value] of Object.entries(message)) {
    if (!TRANSPORT_ONLY.has(name)) body[name] = value;
  }
  if (input !== undefined) body.input = input;
  body.stream = true;
  return { body, headers: metadataHeaders(message.client_metadata) };
}

function metadataHeaders(metadata: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return headers;
  let count = 0;
  for (const [key, value] of Object.entries(metadata)) {
    const name = key.toLowerCase();
    if (typeof value !== 'string' || !CODEX_HEADER.test(name) || !HEADER_VALUE.test(value)) continue;
    headers[name] = value;
    if (++count >= MAX_METADATA_HEADERS) break;
  }
  return headers;
}
