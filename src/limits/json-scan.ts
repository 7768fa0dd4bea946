/** Deepest JSON nesting accepted: far beyond any real request, far below what overflows a recursive walk. */
export const MAX_JSON_DEPTH = 1_000;

/** Where a top-level member's value lies in the raw bytes: [start, end), whitespace trimmed. */
export interface MemberSpan {
  start: number;
  end: number;
}

/** The top level of a JSON object body, as much as splicing into its raw bytes needs. */
export interface ObjectShape {
  /** Offset of the top-level closing brace. */
  close: number;
  members: Map<string, MemberSpan>;
  /**
   * For each member whose value is an array: where each of its elements starts (just after the
   * `[` or `,` before it). A few of a conversation's last items can then be read alone.
   */
  elements: Map<string, number[]>;
}

export interface JsonScan {
  /** Nested deeper than the bound outside strings: the body is refused. */
  tooDeep: boolean;
  /**
   * Set when the body is one object whose top-level names are plain (no escapes) and distinct,
   * so a member found here is the one JSON.parse keeps. Trust it only once JSON.parse accepted the bytes.
   */
  object: ObjectShape | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Index of the quote closing the string opened at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let back = at - 1;
    while (text.charCodeAt(back) === BACKSLASH) back--;
    if ((at - 1 - back) % 2 === 0) return at; // an even run of backslashes escapes nothing
  }
}

/**
 * One pass over the raw bytes: how deep brackets nest outside strings, and where the top-level
 * members of an object are. The bytes are read as latin1 — one character per byte, so offsets
 * are byte offsets, and no byte of a multi-byte UTF-8 character can pass for a quote, bracket,
 * colon or comma — and strings are skipped with a native search, so a body of long strings
 * (prompts, tool descriptions) costs little more than a copy.
 */
export function scanJson(body: Uint8Array, max = MAX_JSON_DEPTH): JsonScan {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const text = bytes.toString('latin1');
  const n = text.length;
  let first = 0;
  while (first < n && isSpace(text.charCodeAt(first))) first++;
  const members = new Map<string, MemberSpan>();
  const elements = new Map<string, number[]>();
  /** The element starts of the top-level member array being read, while one is. */
  let starts: number[] | undefined;
  let plain = text.charCodeAt(first) === OPEN_OBJECT;
  let depth = 0;
  let close = -1;
  let expectKey = false;
  let key: string | undefined;
  let valueStart = -1;
  const endMember = (end: number) => {
    if (plain && key !== undefined && valueStart >= 0) {
      let start = valueStart;
      while (start < end && isSpace(text.charCodeAt(start))) start++;
      let last = end;
      while (last > start && isSpace(text.charCodeAt(last - 1))) last--;
      members.set(key, { start, end: last });
    }
    key = undefined;
    valueStart = -1;
  };
  for (let i = first; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (end < 0) return { tooDeep: false, object: undefined }; // unterminated: JSON.parse will refuse it
      if (depth === 1 && expectKey) {
        expectKey = false;
        // Read from the bytes, not sliced from `text`: a slice of 13 characters or more is a view
        // that keeps all of `text` (a copy of the body) alive as long as the scan is kept.
        const name = bytes.toString('latin1', i + 1, end);
        if (name.includes('\\') || members.has(name)) plain = false;
        key = name;
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return { tooDeep: true, object: undefined };
      if (depth === 1) expectKey = c === OPEN_OBJECT;
      else if (depth === 2 && c === OPEN_ARRAY && key !== undefined) starts = [i + 1];
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === 1 && close < 0) {
        endMember(i);
        close = i;
      } else if (depth === 2 && starts && key !== undefined) {
        elements.set(key, starts);
        starts = undefined;
      }
      depth--;
    } else if (depth === 2) {
      if (c === COMMA && starts) starts.push(i + 1);
    } else if (depth === 1) {
      if (c === COLON && key !== undefined) valueStart = i + 1;
      else if (c === COMMA) {
        endMember(i);
        expectKey = true;
      }
    }
  }
  return { tooDeep: false, object: plain && close >= 0 ? { close, members, elements } : undefined };
}

/** True when the bytes nest `{`/`[` deeper than `max` outside strings (checked before JSON.parse, on every route). */
export const nestsDeeperThan = (body: Uint8Array, max = MAX_JSON_DEPTH): boolean => scanJson(body, max).tooDeep;

/** scanJson at the default bound: the body parser scans each body once, and the interceptor splices with what it found. */
export const scanBody = (body: Uint8Array): JsonScan => scanJson(body);
