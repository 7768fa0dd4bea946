import type { RecordOp, Truncation } from '../store/records.ts';

/** The settings that shape recorded text. */
type TextSettings = Pick<RecordingConfig, 'max_field_bytes' | 'redact'>;

/** The `recording:` section of the configuration. */
export interface RecordingConfig {
  /** Bytes, or `64KiB` / `1MiB`. */
  max_field_bytes: string | number;
  /** Extra redaction regexes (JS syntax, optional leading `(?i)`), checked at load. */
  redact: string[];
  /** New bridged requests while the journal cannot be written: 503, or served (README "Reliability"). */
  on_failure: 'refuse' | 'serve';
}

export const REDACTED = '[REDACTED]';

/**
 * Secrets that must never reach the store, whatever tool printed them. Lengths are lenient
 * (over-redacting a look-alike costs nothing an auditor needs).
 */
const BUILT_IN: readonly RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{20,}/g, // Anthropic, before OpenAI's wider `sk-`
  /(?<![A-Za-z0-9])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, // OpenAI
  /(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub ghp_ gho_ ghu_ ghs_ ghr_
  /github_pat_[A-Za-z0-9_]{20,}/g,
  /xox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack
  /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g, // AWS access key ids
  // An AWS secret key is 40 base64 characters with no prefix: only redactable where labelled.
  // The spaces around the separator are bounded: an unbounded \s* in a lookbehind, tried at
  // every position, is quadratic in a run of whitespace (64 KiB of spaces took 10 s).
  /(?<=(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s{0,16}[:=]\s{0,16}["']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/gi,
  // JWT. Only at the start of a base64url run: tried inside one, each `eyJ` of `eyJaeyJa…` would
  // scan to the run's end for the `.`, quadratic (128 KiB took 11 s).
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  // A PEM private key; a block cut off before its END line is redacted to the end of the text.
  /-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /(?<![A-Za-z0-9])aib_[A-Za-z0-9_-]{20,}/g, // the bridge's own session tokens
];

/**
 * A configured pattern: JavaScript syntax, plus a leading `(?i)` (as in PCRE/Go, which
 * operators copy from elsewhere) meaning "ignore case". Throws on invalid syntax and on a
 * pattern that matches empty text (it would redact between every character).
 */
export function compileRedaction(source: string): RegExp {
  const ignoreCase = source.startsWith('(?i)');
  const pattern = new RegExp(ignoreCase ? source.slice(4) : source, ignoreCase ? 'gi' : 'g');
  if (new RegExp(pattern.source, pattern.flags.replace('g', '')).test('')) {
    throw new SyntaxError('it matches empty text');
  }
  return pattern;
}

const UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 * 1024, GiB: 1024 * 1024 * 1024 };

/** `65536`, `"65536"`, `"64KiB"`, `"1MiB"`, `"1GiB"` → bytes. */
export function parseByteSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+)(B|KiB|MiB|GiB)?$/.exec(value);
  if (!match) throw new SyntaxError(`"${value}" is not a size (bytes, or KiB / MiB / GiB)`);
  return Number(match[1]) * (UNITS[match[2] ?? ''] as number);
}

/** The configuration's problems, by path, for the config loader. */
export function recordingProblems(recording: TextSettings): string[] {
  const problems: string[] = [];
  if (parseByteSize(recording.max_field_bytes) < 1024)
    problems.push('recording.max_field_bytes: must be at least 1KiB');
  recording.redact.forEach((source, i) => {
    try {
      compileRedaction(source);
    } catch (err) {
      problems.push(`recording.redact[${i}]: must be a valid regex (${(err as Error).message})`);
    }
  });
  return problems;
}

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8, never splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  // Most text fits: 3 bytes per UTF-16 unit at most, or a count without a copy.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--; // back off continuation bytes
  return bytes.subarray(0, end).toString('utf8');
}

/** Text fields of each record kind that may carry user or tool content. */
const TEXT_FIELDS = {
  user_prompt: ['prompt'],
  tool_usage: ['input', 'output', 'invocation_error'],
  model_thought: ['content'],
  tool_result: ['output'],
  annotation: ['note'],
} as const;

/**
 * Makes recorded text safe to keep: secrets replaced by `[REDACTED]`, then anything longer
 * than `max_field_bytes` cut, with `truncated: true` and each cut field's original size in
 * `original_bytes`. Applied to every record on its way to the recorder, never to what the
 * model or the client receive.
 */
export class RecordSanitizer {
  readonly #patterns: readonly RegExp[];
  readonly #maxBytes: number;

  constructor(recording: TextSettings) {
    this.#patterns = [...BUILT_IN, ...recording.redact.map(compileRedaction)];
    this.#maxBytes = parseByteSize(recording.max_field_bytes);
  }

  redact(text: string): string {
    let out = text;
    for (const pattern of this.#patterns) out = out.replace(pattern, REDACTED);
    return out;
  }

  /** The op with its text fields sanitised; ops without free text pass unchanged. */
  apply(op: RecordOp): RecordOp {
    switch (op.kind) {
      case 'user_prompt':
        return { ...op, doc: this.#fields(op.doc, TEXT_FIELDS.user_prompt) };
      case 'tool_usage':
        return { ...op, doc: this.#fields(op.doc, TEXT_FIELDS.tool_usage) };
      case 'model_thought':
        return { ...op, doc: this.#fields(op.doc, TEXT_FIELDS.model_thought) };
      case 'tool_result':
        return { ...op, doc: this.#fields(op.doc, TEXT_FIELDS.tool_result) };
      case 'annotation':
        return { ...op, doc: this.#fields(op.doc, TEXT_FIELDS.annotation) };
      default:
        return op;
    }
  }

  #fields<T extends Truncation>(doc: T, fields: readonly (keyof T & string)[]): T {
    const out: T = { ...doc };
    const original: Record<string, number> = {};
    for (const field of fields) {
      const value = doc[field];
      if (typeof value !== 'string') continue;
      const bytes = Buffer.byteLength(value, 'utf8');
      // Redacting megabytes only to keep 64 KiB is waste; the margin lets a secret straddling the cut still match.
      const head = bytes > this.#maxBytes * 2 ? cutUtf8(value, this.#maxBytes + 16 * 1024) : value;
      const redacted = this.redact(head);
      const kept = cutUtf8(redacted, this.#maxBytes);
      if (kept.length < redacted.length || head !== value) original[field] = bytes;
      (out as Record<string, unknown>)[field] = kept;
    }
    if (Object.keys(original).length) {
      out.truncated = true;
      out.original_bytes = original;
    }
    return out;
  }
}

const sanitizers = new WeakMap<TextSettings, RecordSanitizer>();

/** The sanitizer of a loaded configuration, compiled once. */
export function sanitizerFor(recording: TextSettings): RecordSanitizer {
  let sanitizer = sanitizers.get(recording);
  if (!sanitizer) {
    sanitizer = new RecordSanitizer(recording);
    sanitizers.set(recording, sanitizer);
  }
  return sanitizer;
}
