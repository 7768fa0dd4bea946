import type { ClientChannel } from '../../intercept/client-channel.ts';
import type { Json } from '../../intercept/types.ts';
import type { UpstreamReply } from '../../intercept/upstream.ts';
import type { BridgeErrorKind } from '../../providers/errors.ts';
import { type SseEvent, SseParser } from '../../providers/sse.ts';
import { readLimited } from '../../providers/upstream-failure.ts';
import { bridgeErrorFrame, type ErrorObject, errorFrame, keepAliveFrame, streamErrorFrame } from './frames.ts';

/** Where the frames of one socket go. */
export interface FrameSink {
  /** Sends one text frame; nothing once the socket is closed. */
  send(text: string): void;
}

/** How a response ended for the client: `completed` carries the id it can chain to. */
export type Ending = { completed: string; items: unknown[] } | { ended: 'failed' | 'incomplete' | 'error' | 'none' };

/** Upstream headers an error frame carries on (the rest describe an HTTP response there is not). */
const ERROR_HEADERS = /^(retry-after(-ms)?|x-request-id|x-ratelimit-[a-z-]+)$/;
/** How much of an upstream error body is read for the error frame. */
const ERROR_BODY_LIMIT = 64 * 1024;

const TYPE_PREFIX = /^\{\s*"type"\s*:\s*"([a-z0-9_.]+)"/;

/** An event's type, from the start of its data where the provider puts it, else by parsing it. */
function typeOf(data: string): string | undefined {
  const match = TYPE_PREFIX.exec(data);
  if (match) return match[1];
  try {
    const parsed = JSON.parse(data) as Json;
    return typeof parsed?.type === 'string' ? parsed.type : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One response on a Responses WebSocket, as the interception engine's client channel: each SSE
 * event the relay writes goes out as one JSON text frame (its data, as the HTTP stream has it),
 * keep-alive comments as a repeated `response.in_progress`, every error as an error frame with
 * its status. It notes what the next request may chain to: the id of the `response.completed`
 * the client got, and the items of its `response.output_item.done` events.
 */
export class SocketChannel implements ClientChannel {
  readonly #sink: FrameSink;
  readonly #parser = new SseParser();
  readonly #items: unknown[] = [];
  #started = false;
  #ending: Ending | undefined;
  /** The response as the opening event named it, for keep-alives. */
  #opening: Json | undefined;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  get started(): boolean {
    return this.#started;
  }

  /** How the response ended; undefined while it has not (for the client). */
  get ending(): Ending | undefined {
    return this.#ending;
  }

  openStream(): void {
    this.#started = true;
  }

  write(text: string): void {
    this.#started = true;
    for (const event of this.#parser.push(text)) {
      try {
        this.#event(event);
      } catch {
        // Data the relay passed on without reading it, and that is not JSON: it goes as it came.
        if (!this.#ending) this.#sink.send(event.data);
      }
    }
  }

  sendRaw(_headers: UpstreamReply['headers'], body: string): void {
    this.#whole(JSON.parse(body) as Json);
  }

  sendJson(_headers: UpstreamReply['headers'], body: unknown): void {
    this.#whole(body as Json);
  }

  /** An upstream's refusal of the first call: its status and error object, in an error frame. */
  async relay(reply: UpstreamReply): Promise<void> {
    const text = await readLimited(reply.body, ERROR_BODY_LIMIT);
    let error: ErrorObject = { type: 'server_error', code: null, message: text || 'upstream error', param: null };
    try {
      const parsed = JSON.parse(text) as Json;
      if (parsed?.error && typeof parsed.error === 'object') error = parsed.error as ErrorObject;
    } catch {}
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(reply.headers)) {
      if (typeof value === 'string' && ERROR_HEADERS.test(name)) headers[name] = value;
    }
    this.#end({ ended: 'error' }, errorFrame(reply.statusCode, error, headers));
  }

  error(kind: BridgeErrorKind, message: string, headers?: Record<string, string>): void {
    this.#end({ ended: 'error' }, bridgeErrorFrame(kind, message, headers));
  }

  end(): void {}

  /**
   * Once the interception is over: a response that reached the client without its last event
   * gets an error frame, so the client does not wait for one until its idle timeout.
   */
  settle(): Ending {
    if (!this.#ending) {
      this.#end(
        { ended: 'none' },
        bridgeErrorFrame('upstream', 'the response ended before it was complete; retry the request'),
      );
    }
    return this.#ending as Ending;
  }

  #event(event: SseEvent): void {
    if (this.#ending) return;
    const { data } = event;
    if (!data) {
      this.#sink.send(keepAliveFrame(this.#opening));
      return;
    }
    const type = typeOf(data);
    switch (type) {
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued':
        this.#opening ??= openingOf(data);
        break;
      case 'response.output_item.done': {
        const item = (JSON.parse(data) as Json).item;
        if (item) this.#items.push(item);
        break;
      }
      case 'response.completed': {
        const id = (JSON.parse(data) as Json).response?.id;
        this.#end(typeof id === 'string' ? { completed: id, items: this.#items } : { ended: 'failed' }, data);
        return;
      }
      case 'response.failed':
      case 'response.incomplete':
        this.#end({ ended: type === 'response.failed' ? 'failed' : 'incomplete' }, data);
        return;
      case 'error':
        this.#end({ ended: 'error' }, streamErrorFrame(JSON.parse(data) as Json));
        return;
      case undefined:
        if (data === '[DONE]') return;
    }
    this.#sink.send(data);
  }

  /** A whole response where a stream was expected (a blocking answer): its completion event. */
  #whole(response: Json): void {
    this.#started = true;
    const frame = JSON.stringify({ type: 'response.completed', response });
    const id = response?.id;
    this.#end(typeof id === 'string' ? { completed: id, items: response.output ?? [] } : { ended: 'failed' }, frame);
  }

  /** The response's last frame: nothing goes out after it. */
  #end(ending: Ending, frame: string): void {
    if (this.#ending) return;
    this.#ending = ending;
    this.#started = true;
    this.#sink.send(frame);
  }
}

/** What a keep-alive repeats of the opening response: its identity, not its (possibly large) request echo. */
function openingOf(data: string): Json | undefined {
  const response = (JSON.parse(data) as Json).response;
  if (!response || typeof response !== 'object') return undefined;
  const { id, object, created_at, model } = response as Json;
  return { id, object, created_at, status: 'in_progress', model };
}
