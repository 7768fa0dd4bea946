import { describe, expect, it } from 'vitest';
import { parseQuery } from '../../src/audit/query.ts';
import { RecordSanitizer } from '../../src/recorder/sanitize.ts';
import type { RecordOp } from '../../src/store/records.ts';

/**
 * Redaction runs on the event loop for every recorded prompt, tool input and output, and the
 * `q` parser on every audit request: text an attacker chooses (a member's prompt, a malicious
 * MCP tool's output) must never make either backtrack for seconds. The behaviour asserted is
 * that each returns, within the test's timeout, with the right answer.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const sanitizer = new RecordSanitizer({ max_field_bytes: '64KiB', redact: [] } as never);

const prompt = (text: string) =>
  sanitizer.apply({
    kind: 'user_prompt',
    doc: { _id: 'p', interception_id: 'i', provider_response_id: null, prompt: text, created_at: new Date() },
  } as RecordOp) as { doc: { prompt: string; truncated?: boolean } };

/** Text a member can send as a prompt, or a tool can return: each 1 MiB. */
const ADVERSARIAL: Array<[string, string]> = [
  ['whitespace', ' '.repeat(MiB)],
  ['a separator, then whitespace', `=${' '.repeat(MiB)}`],
  ['a labelled AWS key name, then whitespace', `aws_secret_access_key:${'\t'.repeat(MiB)}`],
  ['newlines', '\n'.repeat(MiB)],
  ['label after label', 'secret_access_key='.repeat(MiB / 18)],
  ['sk- prefixes', 'sk-'.repeat(MiB / 3)],
  ['PEM BEGIN lines without an END', '-----BEGIN PRIVATE KEY-----\n'.repeat(MiB / 28)],
  ['JWT-looking prefixes', 'eyJaaaa.'.repeat(MiB / 8)],
  ['JWT header starts run together', 'eyJa'.repeat(MiB / 4)],
  ['JWT header, then more header starts', `eyJaaaa.${'eyJa'.repeat(MiB / 4)}`],
];

describe('redaction of adversarial text', () => {
  it.each(ADVERSARIAL)(
    'returns on a 1 MiB prompt of %s, cut to max_field_bytes',
    (_what, text) => {
      const { doc } = prompt(text);
      expect(Buffer.byteLength(doc.prompt)).toBeLessThanOrEqual(64 * KiB);
      expect(doc.truncated).toBe(true);
    },
    5_000,
  );

  it('returns on 128 KiB of whitespace: the most redaction ever sees whole at the default max_field_bytes', () => {
    expect(sanitizer.redact(' '.repeat(128 * KiB))).toHaveLength(128 * KiB);
    expect(sanitizer.redact(`=${'\n'.repeat(128 * KiB)}`)).toHaveLength(128 * KiB + 1);
  }, 5_000);

  it('returns on 128 KiB of JWT header starts run together', () => {
    expect(sanitizer.redact('eyJa'.repeat(32 * KiB))).toHaveLength(128 * KiB);
  }, 5_000);

  it('still redacts a labelled AWS secret key after a long run of whitespace', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const text = `${' '.repeat(100 * KiB)}aws_secret_access_key = "${secret}"`;
    expect(sanitizer.redact(text).endsWith('aws_secret_access_key = "[REDACTED]"')).toBe(true);
  }, 5_000);
});

describe('the audit q parser on adversarial 1 MiB inputs', () => {
  it.each([
    ['quotes', '"'.repeat(MiB)],
    ['colons', ':'.repeat(MiB)],
    ['unknown keys', 'zz:1 '.repeat(MiB / 5)],
    ['whitespace', ' '.repeat(MiB)],
    ['one long time value', `started_after:2025-01-01T00:00:00${'.'.repeat(MiB)}`],
  ])(
    'returns on %s',
    (_what, q) => {
      const { validations } = parseQuery(q);
      expect(Array.isArray(validations)).toBe(true);
    },
    5_000,
  );
});
