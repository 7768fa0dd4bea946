/**
 * The text inside a JSON string literal, as a regex source: only what JSON.parse accepts (no raw
 * control characters, only valid escapes), so a pattern built with it matches valid JSON only.
 */
export const JSON_STRING_BODY = String.raw`(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*`;

/** A JSON number that can index an array: no sign, no fraction, no leading zero. */
export const JSON_INDEX = '(0|[1-9][0-9]{0,8})';

/**
 * Text gathered from the bodies of JSON string literals as they came (still escaped), decoded
 * once when read: streamed text deltas are kept without parsing each event. Escapes never span
 * two literals, so the pieces joined decode to the texts joined.
 */
export class EscapedText {
  #pending = '';
  #text = '';

  /** Adds the body of a string literal, escapes and all. */
  addEscaped(body: string): void {
    this.#pending += body;
  }

  /** Adds text that is already decoded. */
  add(text: string): void {
    this.#settle();
    this.#text += text;
  }

  get text(): string {
    this.#settle();
    return this.#text;
  }

  #settle(): void {
    if (!this.#pending) return;
    this.#text += JSON.parse(`"${this.#pending}"`) as string;
    this.#pending = '';
  }
}
