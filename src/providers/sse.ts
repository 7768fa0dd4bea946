/** One server-sent event as it came over the wire, with its parsed fields. */
export interface SseEvent {
  /** The `event:` field, or undefined when the stream only uses `data:`. */
  event: string | undefined;
  /** The `data:` lines joined with "\n". Empty for comment-only blocks. */
  data: string;
  /** The exact bytes of the block, including its terminating blank line, for byte-exact relay. */
  raw: string;
}

/**
 * Incremental SSE parser: feed it chunks as they arrive, get back the complete events.
 * It keeps the raw text of each block so events that need no rewriting are relayed as is.
 */
export class SseParser {
  #buffer = '';
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array | string): SseEvent[] {
    this.#buffer += typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    for (;;) {
      const end = blockEnd(this.#buffer);
      if (end < 0) break;
      const raw = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end);
      const event = parseBlock(raw);
      if (event) events.push(event);
    }
    return events;
  }

  /** Whatever is left unterminated when the stream ends (a cut connection leaves some). */
  get remainder(): string {
    return this.#buffer;
  }
}

/** Index just past the first blank line (\n\n, \r\n\r\n or \r\r), or -1. */
function blockEnd(text: string): number {
  const lf = text.indexOf('\n\n');
  const crlf = text.indexOf('\r\n\r\n');
  if (lf < 0 && crlf < 0) return -1;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

function parseBlock(raw: string): SseEvent | undefined {
  let event: string | undefined;
  const data: string[] = [];
  let meaningful = false;
  for (const line of raw.split(/\r?\n/)) {
    if (!line) continue;
    meaningful = true;
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return meaningful ? { event, data: data.join('\n'), raw } : undefined;
}

/** Serialises an event the way the providers do: `event:` (if any), one `data:` line, blank line. */
export function formatEvent(event: string | undefined, data: unknown): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return event ? `event: ${event}\ndata: ${payload}\n\n` : `data: ${payload}\n\n`;
}

export const KEEPALIVE_COMMENT = ': keep-alive\n\n';
