import { crc32 } from 'node:zlib';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import type { BridgeErrorKind } from '../../errors.ts';
import { formatEvent, type SseEvent } from '../../sse.ts';
import { bedrockStreamExceptionType, kindOfBedrockError } from './errors.ts';

/**
 * Bedrock's `application/vnd.amazon.eventstream` answer to invoke-with-response-stream: binary
 * frames (total length, headers length, prelude CRC, headers, payload, message CRC). Each
 * `chunk` event carries one Anthropic stream event as `{"bytes":"<base64 of its JSON>"}`;
 * failures arrive as `exception` frames inside the 200.
 */

export const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

/** Far above any single Anthropic event; a longer frame is refused before it is buffered. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const PRELUDE_BYTES = 12;
const MIN_FRAME_BYTES = 16;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();
const codec = new EventStreamCodec(
  (bytes) => utf8Decoder.decode(bytes),
  (text) => utf8Encoder.encode(text),
);

/** An exception Bedrock sent inside the stream (`throttlingException`, `modelStreamErrorException`, …). */
export class BedrockStreamException extends Error {
  /** As Bedrock named it: `:exception-type`, or `:error-code` of an error frame. */
  readonly exceptionType: string;
  /** What it means to the bridge. */
  readonly kind: BridgeErrorKind;
  /** `modelStreamErrorException` carries the model's own status and message. */
  readonly originalStatusCode: number | undefined;
  readonly originalMessage: string | undefined;

  constructor(exceptionType: string, message: string, original: { statusCode?: number; message?: string } = {}) {
    super(message);
    this.name = 'BedrockStreamException';
    this.exceptionType = exceptionType;
    this.kind = kindOfBedrockError(exceptionType);
    this.originalStatusCode = original.statusCode;
    this.originalMessage = original.message;
  }
}

/** The bytes are not a well-formed Bedrock stream (bad checksum, oversized or truncated frame, a chunk that is not JSON). */
export class EventStreamFormatError extends Error {
  readonly kind: BridgeErrorKind = 'upstream';
  constructor(message: string) {
    super(message);
    this.name = 'EventStreamFormatError';
  }
}

export type BedrockStreamItem = SseEvent | BedrockStreamException;

/**
 * Turns upstream bytes, split anywhere, into the Anthropic events inside (as `SseEvent`s, so
 * the SSE relays take them unchanged) and the exceptions Bedrock sent. Throws
 * `EventStreamFormatError` on bytes that are not an event stream.
 */
export class EventStreamDecoder {
  readonly #maxFrameBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** The frame length once its prelude has been read and checked. */
  #frameLength: number | undefined;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  push(bytes: Uint8Array): BedrockStreamItem[] {
    if (bytes.byteLength) {
      this.#chunks.push(bytes);
      this.#buffered += bytes.byteLength;
    }
    const items: BedrockStreamItem[] = [];
    for (;;) {
      if (this.#frameLength === undefined) {
        if (this.#buffered < PRELUDE_BYTES) break;
        this.#frameLength = this.#readPrelude();
      }
      if (this.#buffered < this.#frameLength) break;
      const frame = this.#take(this.#frameLength);
      this.#frameLength = undefined;
      const item = decodeFrame(frame);
      if (item) items.push(item);
    }
    return items;
  }

  /** Call when the upstream body ended: a partial frame left over means the stream was cut. */
  end(): void {
    if (this.#buffered > 0) {
      throw new EventStreamFormatError(`the event stream ended inside a frame (${this.#buffered} bytes left)`);
    }
  }

  /** Checks the prelude's length fields and checksum as soon as they arrive, before buffering the rest. */
  #readPrelude(): number {
    const prelude = this.#peek(PRELUDE_BYTES);
    const view = new DataView(prelude.buffer, prelude.byteOffset, PRELUDE_BYTES);
    const total = view.getUint32(0);
    const headers = view.getUint32(4);
    if (crc32(prelude.subarray(0, 8)) !== view.getUint32(8)) {
      throw new EventStreamFormatError('event stream prelude checksum mismatch');
    }
    if (total > this.#maxFrameBytes) {
      throw new EventStreamFormatError(
        `event stream frame of ${total} bytes exceeds the ${this.#maxFrameBytes}-byte limit`,
      );
    }
    if (total < MIN_FRAME_BYTES || headers > total - MIN_FRAME_BYTES) {
      throw new EventStreamFormatError(`malformed event stream prelude (length ${total}, headers ${headers})`);
    }
    return total;
  }

  /** The first `n` buffered bytes, without consuming them (joins chunks only as far as needed). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.byteLength >= n) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Uint8Array {
    const whole = this.#peek(n);
    const frame = whole.subarray(0, n);
    const rest = whole.subarray(n);
    this.#chunks.shift();
    if (rest.byteLength) this.#chunks.unshift(rest);
    this.#buffered -= n;
    return frame;
  }
}

function decodeFrame(frame: Uint8Array): BedrockStreamItem | undefined {
  let message: ReturnType<typeof codec.decode>;
  try {
    message = codec.decode(frame);
  } catch (err) {
    throw new EventStreamFormatError(`malformed event stream frame: ${(err as Error).message}`);
  }
  const header = (name: string): string | undefined => {
    const value = Object.hasOwn(message.headers, name) ? message.headers[name] : undefined;
    return value?.type === 'string' ? value.value : undefined;
  };
  const messageType = header(':message-type');
  if (messageType === 'event') {
    return header(':event-type') === 'chunk' ? decodeChunk(message.body) : undefined;
  }
  if (messageType === 'exception') {
    const type = header(':exception-type') ?? 'unknownException';
    const payload = parseObject(message.body);
    const text = typeof payload?.message === 'string' ? payload.message : `Bedrock sent ${type}`;
    return new BedrockStreamException(type, text, {
      ...(typeof payload?.originalStatusCode === 'number' ? { statusCode: payload.originalStatusCode } : {}),
      ...(typeof payload?.originalMessage === 'string' ? { message: payload.originalMessage } : {}),
    });
  }
  if (messageType === 'error') {
    const code = header(':error-code') ?? 'UnknownError';
    return new BedrockStreamException(code, header(':error-message') ?? `Bedrock sent ${code}`);
  }
  throw new EventStreamFormatError(`event stream frame of unknown message type ${JSON.stringify(messageType)}`);
}

/** A chunk's Anthropic event; chunks without a `type` (keep-alives) are skipped. */
function decodeChunk(body: Uint8Array): SseEvent | undefined {
  const payload = parseObject(body);
  if (typeof payload?.bytes !== 'string') throw new EventStreamFormatError('event stream chunk without bytes');
  let data = Buffer.from(payload.bytes, 'base64').toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    throw new EventStreamFormatError('event stream chunk is not JSON');
  }
  if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') {
    return undefined;
  }
  // An SSE data line cannot hold a line break; the JSON is re-serialised only then.
  if (/[\r\n]/.test(data)) data = JSON.stringify(event);
  const type = (event as { type: string }).type;
  return { event: type, data, raw: formatEvent(type, data) };
}

function parseObject(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8Decoder.decode(body));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const stringHeader = (value: string) => ({ type: 'string' as const, value });

/** One Anthropic event (its JSON text) as the chunk frame Bedrock sends it. */
export function encodeChunk(eventJson: string): Uint8Array {
  const body = JSON.stringify({ bytes: Buffer.from(eventJson, 'utf8').toString('base64') });
  return codec.encode({
    headers: {
      ':event-type': stringHeader('chunk'),
      ':content-type': stringHeader('application/json'),
      ':message-type': stringHeader('event'),
    },
    body: utf8Encoder.encode(body),
  });
}

/** An exception frame (`throttlingException`, …) as Bedrock ends a failing stream with it. */
export function encodeException(exceptionType: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':exception-type': stringHeader(exceptionType),
      ':content-type': stringHeader('application/json'),
      ':message-type': stringHeader('exception'),
    },
    body: utf8Encoder.encode(JSON.stringify({ message })),
  });
}

/** The exception frame for a bridge error raised after a Bedrock stream has started. */
export const encodeStreamError = (kind: BridgeErrorKind, message: string): Uint8Array =>
  encodeException(bedrockStreamExceptionType(kind), message);
