import { type BridgeErrorKind, statusOf } from '../../errors.ts';

/** google.rpc canonical codes: what Google APIs put in `error.status` next to the HTTP status. */
const GOOGLE_STATUS: Record<BridgeErrorKind, string> = {
  invalid_request: 'INVALID_ARGUMENT',
  authentication: 'UNAUTHENTICATED',
  permission: 'PERMISSION_DENIED',
  not_found: 'NOT_FOUND',
  too_large: 'INVALID_ARGUMENT',
  request_timeout: 'DEADLINE_EXCEEDED',
  headers_too_large: 'INVALID_ARGUMENT',
  rate_limited: 'RESOURCE_EXHAUSTED',
  overloaded: 'UNAVAILABLE',
  not_configured: 'UNAVAILABLE',
  upstream: 'UNAVAILABLE',
  upstream_timeout: 'DEADLINE_EXCEEDED',
  loop_detected: 'INTERNAL',
  internal: 'INTERNAL',
};

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string };
}

export interface VertexErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: GoogleErrorBody;
}

/**
 * Vertex's own error JSON for a bridge error (`{"error":{"code":429,"message":…,"status":"RESOURCE_EXHAUSTED"}}`).
 * The Anthropic Vertex SDK picks its error class by status and shows the message.
 */
export function vertexError(kind: BridgeErrorKind, message: string): VertexErrorResponse {
  const status = statusOf(kind);
  return {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: { error: { code: status, message, status: GOOGLE_STATUS[kind] } },
  };
}
