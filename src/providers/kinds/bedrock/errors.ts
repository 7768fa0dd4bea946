import { type BridgeErrorKind, statusOf } from '../../errors.ts';

/**
 * Bedrock's error vocabulary. The AWS SDK picks its exception class from the `x-amzn-errortype`
 * header and its message from the JSON body's `message`; the Anthropic Bedrock SDK goes by the
 * status. So the status stays the bridge's own and the type is the nearest AWS name.
 */
const ERROR_TYPE: Record<BridgeErrorKind, string> = {
  invalid_request: 'ValidationException',
  // A missing or unknown bridge token: the exception the AWS SDK models for a refused caller (status stays 401).
  authentication: 'AccessDeniedException',
  permission: 'AccessDeniedException',
  not_found: 'ResourceNotFoundException',
  too_large: 'ValidationException',
  request_timeout: 'ValidationException',
  headers_too_large: 'ValidationException',
  rate_limited: 'ThrottlingException',
  overloaded: 'ServiceUnavailableException',
  not_configured: 'ServiceUnavailableException',
  upstream: 'InternalServerException',
  upstream_timeout: 'ModelTimeoutException',
  loop_detected: 'InternalServerException',
  internal: 'InternalServerException',
};

/**
 * The exception members of Bedrock's response stream (`:exception-type`, camel-cased). Only these
 * are modelled there, so every kind maps onto one of them.
 */
const STREAM_EXCEPTION_TYPE: Record<BridgeErrorKind, string> = {
  invalid_request: 'validationException',
  authentication: 'validationException',
  permission: 'validationException',
  not_found: 'validationException',
  too_large: 'validationException',
  request_timeout: 'validationException',
  headers_too_large: 'validationException',
  rate_limited: 'throttlingException',
  overloaded: 'serviceUnavailableException',
  not_configured: 'serviceUnavailableException',
  upstream: 'modelStreamErrorException',
  upstream_timeout: 'modelTimeoutException',
  loop_detected: 'internalServerException',
  internal: 'internalServerException',
};

/** What a Bedrock error (HTTP `x-amzn-errortype` or stream `:exception-type`) means to the bridge. */
const KIND_OF_TYPE: Record<string, BridgeErrorKind> = {
  validationexception: 'invalid_request',
  resourcenotfoundexception: 'not_found',
  throttlingexception: 'rate_limited',
  servicequotaexceededexception: 'rate_limited',
  modelnotreadyexception: 'rate_limited',
  serviceunavailableexception: 'overloaded',
  modeltimeoutexception: 'upstream_timeout',
  // The bridge's own credentials were refused: its configuration, not the client's request.
  accessdeniedexception: 'upstream',
  unrecognizedclientexception: 'upstream',
  invalidsignatureexception: 'upstream',
  expiredtokenexception: 'upstream',
  internalserverexception: 'upstream',
  modelerrorexception: 'upstream',
  modelstreamerrorexception: 'upstream',
};

export interface BedrockErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { message: string };
}

/** The HTTP error response Bedrock would give for this kind, so AWS and Anthropic SDKs raise their own errors. */
export function bedrockError(kind: BridgeErrorKind, message: string): BedrockErrorResponse {
  return {
    status: statusOf(kind),
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': ERROR_TYPE[kind] },
    body: { message },
  };
}

/** The `x-amzn-errortype` name for a kind (`ThrottlingException`). */
export const bedrockErrorType = (kind: BridgeErrorKind): string => ERROR_TYPE[kind];

/** The response-stream `:exception-type` for a kind (`throttlingException`). */
export const bedrockStreamExceptionType = (kind: BridgeErrorKind): string => STREAM_EXCEPTION_TYPE[kind];

/**
 * The bridge kind of an error type Bedrock sent, in either spelling (`ThrottlingException`,
 * `throttlingException`, namespaced or suffixed as AWS sometimes sends it).
 */
export function kindOfBedrockError(type: string): BridgeErrorKind {
  return KIND_OF_TYPE[bedrockErrorName(type)] ?? 'upstream';
}

/** An error type's bare name, lower-cased: `ThrottlingException:http://internal.amazon.com/...` and `com.amazon.bedrock#ThrottlingException` alike. */
export function bedrockErrorName(type: string): string {
  const qualified = type.split(':', 1)[0]!.trim();
  return qualified.slice(qualified.lastIndexOf('#') + 1).toLowerCase();
}
