import { randomBytes } from 'node:crypto';
import type { Json } from '../../intercept/types.ts';
import { type BridgeErrorKind, isBridgeErrorKind, openaiErrors, statusOf } from '../../providers/errors.ts';

/** The error object of an OpenAI error body: `{type, code, message, param}`. */
export interface ErrorObject {
  type: string;
  code: string | null;
  message: string;
  param: string | null;
}

/**
 * An error as the Responses WebSocket transport sends it: `status` (the HTTP status the same
 * failure would have had) and `error` are what Codex reads — without `status` it ignores the
 * frame and waits for the idle timeout; `code`, `message` and `param` at the top level are the
 * streaming error event the OpenAI SDKs read. `headers` carries what would have been response
 * headers (`retry-after`).
 */
export function errorFrame(
  status: number,
  error: ErrorObject,
  headers?: Record<string, string>,
  sequence?: number,
): string {
  const frame: Json = { type: 'error', status, code: error.code, message: error.message, param: error.param, error };
  if (sequence !== undefined) frame.sequence_number = sequence;
  if (headers && Object.keys(headers).length) frame.headers = headers;
  return JSON.stringify(frame);
}

/** An error the bridge raises, in OpenAI's vocabulary, with its HTTP status. */
export function bridgeErrorFrame(kind: BridgeErrorKind, message: string, headers?: Record<string, string>): string {
  const { error } = openaiErrors.body(kind, message) as { error: ErrorObject };
  return errorFrame(statusOf(kind), error, headers);
}

/** The status an upstream's streamed error code stands for; unknown codes are server errors (retried). */
const STATUS_OF_CODE: Record<string, number> = {
  invalid_request_error: 400,
  context_length_exceeded: 400,
  invalid_prompt: 400,
  previous_response_not_found: 400,
  rate_limit_exceeded: 429,
  insufficient_quota: 429,
  server_is_overloaded: 503,
  upstream_error: 502,
};

/**
 * A streamed `error` event (the upstream's, or the relay's for a failure after the stream began)
 * as an error frame: it gains the status Codex needs. The relay names the bridge's own error kinds
 * in `code` (`upstream_error` for an upstream failure).
 */
export function streamErrorFrame(data: Json): string {
  const code = typeof data.code === 'string' ? data.code : null;
  const message = typeof data.message === 'string' ? data.message : 'error';
  const sequence = typeof data.sequence_number === 'number' ? data.sequence_number : undefined;
  if (code && isBridgeErrorKind(code)) {
    const { error } = openaiErrors.body(code, message) as { error: ErrorObject };
    return errorFrame(statusOf(code), error, undefined, sequence);
  }
  const status = typeof data.status === 'number' ? data.status : (STATUS_OF_CODE[code ?? ''] ?? 500);
  const param = typeof data.param === 'string' ? data.param : null;
  const type = status === 429 ? 'requests' : status < 500 ? 'invalid_request_error' : 'server_error';
  return errorFrame(status, { type, code, message, param }, undefined, sequence);
}

/** A response id like the upstream's (`resp_` and 48 hex digits), for the responses the bridge answers itself. */
export const localResponseId = (): string => `resp_${randomBytes(24).toString('hex')}`;

const ZERO_USAGE = {
  input_tokens: 0,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 0,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 0,
};

/**
 * The answer to a warm-up (`generate: false`): a response with no output and no usage, made
 * here — the upstream is reached over HTTP, which has no such request and would generate (and bill).
 */
export function warmupFrames(id: string, request: Json): [string, string] {
  const response = {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    model: typeof request.model === 'string' ? request.model : null,
    output: [],
    previous_response_id: typeof request.previous_response_id === 'string' ? request.previous_response_id : null,
    usage: null,
  };
  return [
    JSON.stringify({ type: 'response.created', sequence_number: 0, response }),
    JSON.stringify({
      type: 'response.completed',
      sequence_number: 1,
      response: { ...response, status: 'completed', usage: ZERO_USAGE },
    }),
  ];
}

/**
 * A text frame that says nothing new: Codex gives up on a response after 5 minutes without a
 * text frame (pings do not count), so one is sent while injected tools run or the upstream thinks.
 */
export function keepAliveFrame(response: Json | undefined): string {
  return JSON.stringify({
    type: 'response.in_progress',
    response: response ?? { object: 'response', status: 'in_progress' },
  });
}
