import type { ServerResponse } from 'node:http';
import { anthropicErrors, type BridgeErrorKind } from '../../errors.ts';
import type { ClientStream, StreamDecoder } from '../../kind.ts';
import { formatEvent, type SseEvent, SseParser } from '../../sse.ts';
import { bedrockStreamExceptionType } from './errors.ts';
import {
  BedrockStreamException,
  EVENT_STREAM_CONTENT_TYPE,
  EventStreamDecoder,
  encodeChunk,
  encodeException,
} from './event-stream.ts';

/**
 * Bedrock streams both ways: the upstream's AWS event stream becomes the Anthropic events the
 * Messages relay reads, and the relay's SSE text becomes event-stream frames for the client.
 * An exception Bedrock sent travels as an Anthropic `error` event that remembers its Bedrock
 * name, so the client gets the same exception back.
 */

/** The Anthropic error type of each bridge error kind, read back when the relay's error event is framed. */
const KIND_OF_ANTHROPIC_TYPE: Record<string, BridgeErrorKind> = {
  invalid_request_error: 'invalid_request',
  authentication_error: 'authentication',
  permission_error: 'permission',
  not_found_error: 'not_found',
  request_too_large: 'too_large',
  rate_limit_error: 'rate_limited',
  overloaded_error: 'overloaded',
  timeout_error: 'upstream_timeout',
  api_error: 'upstream',
};

/** A name Bedrock uses for a stream exception (`throttlingException`); anything else is not echoed. */
const EXCEPTION_NAME = /^[a-z][A-Za-z]{0,63}$/;

/** The upstream's event stream, decoded into Anthropic events; its exceptions into `error` events. */
export function bedrockDecoder(): StreamDecoder {
  const frames = new EventStreamDecoder();
  return {
    push(chunk) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      return frames.push(bytes).map((item) => (item instanceof BedrockStreamException ? errorEvent(item) : item));
    },
  };
}

function errorEvent(exception: BedrockStreamException): SseEvent {
  const body = anthropicErrors.body(exception.kind, exception.message) as { error: Record<string, unknown> };
  body.error.bedrock_exception = exception.exceptionType;
  const data = JSON.stringify(body);
  return { event: 'error', data, raw: formatEvent('error', data) };
}

/** The relay's SSE text as event-stream frames: each event a `chunk`, an `error` event an exception frame. */
export function bedrockClientStream(res: ServerResponse): ClientStream {
  const parser = new SseParser();
  return {
    contentType: EVENT_STREAM_CONTENT_TYPE,
    write(text) {
      const frames: Uint8Array[] = [];
      for (const event of parser.push(text)) {
        if (!event.data) continue; // a comment: event streams have none
        frames.push(event.event === 'error' ? exceptionFrame(event.data) : encodeChunk(event.data));
      }
      if (frames.length === 1) res.write(frames[0]);
      else if (frames.length > 1) res.write(Buffer.concat(frames));
    },
  };
}

function exceptionFrame(data: string): Uint8Array {
  let error: { type?: unknown; message?: unknown; bedrock_exception?: unknown } = {};
  try {
    error = (JSON.parse(data) as { error?: typeof error }).error ?? {};
  } catch {}
  const named = typeof error.bedrock_exception === 'string' && EXCEPTION_NAME.test(error.bedrock_exception);
  const type = named
    ? (error.bedrock_exception as string)
    : bedrockStreamExceptionType(KIND_OF_ANTHROPIC_TYPE[String(error.type)] ?? 'internal');
  return encodeException(type, typeof error.message === 'string' ? error.message : 'stream failed');
}
