import type { ServerResponse } from 'node:http';

/** The error kinds the bridge itself raises, each mapped once to each provider's vocabulary. */
export type BridgeErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'too_large'
  | 'request_timeout'
  | 'headers_too_large'
  | 'rate_limited'
  | 'overloaded'
  | 'not_configured'
  | 'upstream'
  | 'upstream_timeout'
  | 'loop_detected'
  | 'internal';

const STATUS: Record<BridgeErrorKind, number> = {
  invalid_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  too_large: 413,
  request_timeout: 408,
  headers_too_large: 431,
  rate_limited: 429,
  overloaded: 503,
  not_configured: 503,
  upstream: 502,
  upstream_timeout: 504,
  loop_detected: 508,
  internal: 500,
};

const ANTHROPIC_TYPE: Record<BridgeErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  too_large: 'request_too_large',
  request_timeout: 'invalid_request_error', // Anthropic's type for 4xx it has no own type for
  headers_too_large: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  overloaded: 'overloaded_error',
  not_configured: 'api_error',
  upstream: 'api_error',
  upstream_timeout: 'timeout_error',
  loop_detected: 'api_error',
  internal: 'api_error',
};

const OPENAI_TYPE: Record<BridgeErrorKind, { type: string; code: string | null }> = {
  invalid_request: { type: 'invalid_request_error', code: null },
  authentication: { type: 'invalid_request_error', code: 'invalid_api_key' },
  permission: { type: 'invalid_request_error', code: 'insufficient_permissions' },
  not_found: { type: 'invalid_request_error', code: 'not_found' },
  too_large: { type: 'invalid_request_error', code: 'request_too_large' },
  request_timeout: { type: 'invalid_request_error', code: 'request_timeout' },
  headers_too_large: { type: 'invalid_request_error', code: 'request_header_fields_too_large' },
  rate_limited: { type: 'requests', code: 'rate_limit_exceeded' },
  overloaded: { type: 'server_error', code: 'overloaded' },
  not_configured: { type: 'server_error', code: 'provider_not_configured' },
  upstream: { type: 'server_error', code: 'upstream_error' },
  upstream_timeout: { type: 'server_error', code: 'upstream_timeout' },
  loop_detected: { type: 'server_error', code: 'loop_detected' },
  internal: { type: 'server_error', code: null },
};

export class BridgeError extends Error {
  readonly kind: BridgeErrorKind;
  readonly headers: Record<string, string>;
  constructor(kind: BridgeErrorKind, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.kind = kind;
    this.headers = headers;
  }
  get status(): number {
    return STATUS[this.kind];
  }
}

/** A model's circuit is open (src/limits/circuit-breaker.ts): refused at once, with when to retry. */
export class CircuitOpenError extends BridgeError {
  constructor(message: string, retryAfterSeconds: number) {
    super('overloaded', message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/**
 * The bridge could not authenticate to its upstream (no cloud credentials, a refused role, a
 * token endpoint down). The client hears `message`, which names nothing of the set-up; the
 * operator's log gets `detail`.
 */
export class UpstreamAuthError extends BridgeError {
  readonly detail: string;
  constructor(kind: BridgeErrorKind, message: string, detail: string) {
    super(kind, message);
    this.detail = detail;
  }
}

/** The HTTP status of an error kind. */
export const statusOf = (kind: BridgeErrorKind): number => STATUS[kind];

/** True for the name of one of the bridge's own error kinds. */
export const isBridgeErrorKind = (name: string): name is BridgeErrorKind => Object.hasOwn(STATUS, name);

/**
 * How a provider kind tells its clients about an error: the body its SDK parses, and any header
 * it reads the error's type from (Bedrock's `x-amzn-errortype`). Each kind owns one (providers/kinds).
 */
export interface ErrorFormat {
  body(kind: BridgeErrorKind, message: string): Record<string, unknown>;
  headers?(kind: BridgeErrorKind): Record<string, string>;
}

/** The two API families' error vocabularies: OpenAI's `{error: {message, type, code}}`, Anthropic's `{type: 'error', error}`. */
export const openaiErrors: ErrorFormat = {
  body(kind, message) {
    const { type, code } = OPENAI_TYPE[kind];
    return { error: { message, type, param: null, code } };
  },
};

export const anthropicErrors: ErrorFormat = {
  body: (kind, message) => ({ type: 'error', error: { type: ANTHROPIC_TYPE[kind], message } }),
};

/** The same error as a streaming event of an API family, for failures after the response has started. */
export function errorEvent(family: 'openai' | 'anthropic', kind: BridgeErrorKind, message: string): string {
  return family === 'anthropic'
    ? `event: error\ndata: ${JSON.stringify(anthropicErrors.body(kind, message))}\n\n`
    : `data: ${JSON.stringify(openaiErrors.body(kind, message))}\n\n`;
}

/** Answers with a JSON body (used for bridge-made responses; relayed ones keep the provider's bytes). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers an error in the provider's format; once a response has started it can only be ended. */
export function sendError(
  res: ServerResponse,
  format: ErrorFormat,
  kind: BridgeErrorKind,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) res.end();
  else sendJson(res, STATUS[kind], format.body(kind, message), { ...format.headers?.(kind), ...headers });
}
