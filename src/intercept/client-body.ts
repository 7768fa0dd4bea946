import { isAscii } from 'node:buffer';
import type { Json } from './types.ts';

/**
 * The client's JSON body as the interceptor reads it before the first call. Decoding a large
 * body with text beyond ASCII into a JavaScript string costs as much as parsing it, and the
 * interceptor reads little of it as text (the model, the prompt, a session id) — the rest it
 * only checks for shape, and forwards as the client's own bytes. So such a body is parsed from
 * its bytes read as latin1 (one character per byte, no decoding): JSON.parse accepts or refuses
 * exactly what it would from UTF-8, and builds the same shape; its strings are exact where they
 * are ASCII. `text()` checks what is read as text and parses the body as UTF-8 when it is not.
 */
export class ClientBody {
  readonly raw: Buffer;
  #body: Json;
  #exact: boolean;

  /** Throws SyntaxError, with the message a UTF-8 parse gives, when the bytes are not JSON. */
  constructor(raw: Buffer) {
    this.raw = raw;
    this.#exact = isAscii(raw);
    if (this.#exact) {
      this.#body = JSON.parse(raw.toString('latin1')) as Json; // ASCII: the same string, decoded faster
      return;
    }
    try {
      this.#body = JSON.parse(raw.toString('latin1')) as Json;
    } catch {
      this.#body = JSON.parse(raw.toString('utf8')) as Json; // throws, with positions in characters as a client counts them
      this.#exact = true;
    }
  }

  /** The parsed body: its shape and types are the client's; its strings only once `text` accepted what was read. */
  get body(): Json {
    return this.#body;
  }

  /** True when every string of `body` is the client's (an ASCII body, or one parsed as UTF-8). */
  get exact(): boolean {
    return this.#exact;
  }

  /**
   * What `read` takes from the body as text, exactly: read once, and when a string it gives is
   * beyond ASCII (latin1 may have read it wrong), read again from the body parsed as UTF-8.
   */
  text<T>(read: (body: Json) => T, strings: (value: T) => Array<string | null | undefined>): T {
    const value = read(this.#body);
    if (this.#exact || strings(value).every((s) => s == null || isAsciiText(s))) return value;
    this.#body = JSON.parse(this.raw.toString('utf8')) as Json;
    this.#exact = true;
    return read(this.#body);
  }
}

const BEYOND_ASCII = /[\u0080-\uffff]/;

/** True when a string is ASCII (read the same from latin1 as from UTF-8). */
export const isAsciiText = (text: string): boolean => !BEYOND_ASCII.test(text);
