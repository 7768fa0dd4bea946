/** Deepest JSON nesting accepted: far beyond any real request, far below what overflows a recursive walk. */
export const MAX_JSON_DEPTH = 1_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * True when the bytes nest `{`/`[` deeper than `max` outside strings. One pass over raw bytes,
 * before JSON.parse: a 100 000-deep body would otherwise parse fine and then blow the stack of
 * whatever walks it. Multi-byte UTF-8 never contains these ASCII bytes, so bytes suffice.
 */
export function nestsDeeperThan(body: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
