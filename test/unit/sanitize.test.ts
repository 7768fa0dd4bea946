import { describe, expect, it } from 'vitest';
import { type ConfigError, validateConfig } from '../../src/config/load.ts';
import { compileRedaction, cutUtf8, parseByteSize, RecordSanitizer } from '../../src/recorder/sanitize.ts';
import type { ToolUsageRecord } from '../../src/store/records.ts';

const sanitizer = (redact: string[] = [], max_field_bytes: string | number = '64KiB') =>
  new RecordSanitizer({ redact, max_field_bytes });

// Assembled from parts so no file of the project holds a whole secret-looking string.
const SECRETS: Array<[string, string]> = [
  ['OpenAI key', ['sk', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0'].join('-')],
  ['OpenAI project key', ['sk', 'proj', 'Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa'].join('-')],
  ['Anthropic key', ['sk', 'ant', 'api03', 'q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6j7K8l9Z0x'].join('-')],
  ...['ghp', 'gho', 'ghu', 'ghs', 'ghr'].map((p): [string, string] => [`GitHub ${p}_`, `${p}_${'a1B2c3D4'.repeat(5)}`]),
  ['GitHub fine-grained', `github_pat_11ABCDEFG0${'x_Y'.repeat(10)}`],
  ...['xoxb', 'xoxp', 'xoxa', 'xoxr', 'xoxs'].map((p): [string, string] => [
    `Slack ${p}`,
    `${p}-1234567890-abcdefGHIJ`,
  ]),
  ['AWS access key id', `AKIA${'IOSFODNN7EXAMPLE'}`],
  ['AWS session key id', `ASIA${'Q3EGUWSLXXMPL7ZQ'}`],
  ['JWT', `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.${'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'}`],
  ['bridge token', `aib_${'Q2hlY2tNZUlmWW91Q2FuX1RoaXNJc0Zha2U'}`],
];

describe('redaction', () => {
  it.each(SECRETS)('replaces a %s wherever it appears', (_what, secret) => {
    const s = sanitizer();
    expect(s.redact(secret)).toBe('[REDACTED]');
    expect(s.redact(`before ${secret} after`)).toBe('before [REDACTED] after');
    expect(s.redact(JSON.stringify({ value: secret }))).toBe('{"value":"[REDACTED]"}');
  });

  it('replaces PEM private key blocks, also one cut off before its END line, and labelled AWS secret keys', () => {
    const body = `MIIEpAIBAAKCAQEA${'q'.repeat(64)}\n${'w'.repeat(64)}`;
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
    const s = sanitizer();
    expect(s.redact(`key:\n${pem}\nafter`)).toBe('key:\n[REDACTED]\nafter');
    expect(s.redact(JSON.stringify(`x ${pem} y`))).toBe('"x [REDACTED] y"');
    expect(s.redact(`-----BEGIN PRIVATE KEY-----\n${body}`)).toBe('[REDACTED]');
    expect(s.redact('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----')).toContain('MIIB');
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    expect(s.redact(`aws_secret_access_key = ${secret}`)).toBe('aws_secret_access_key = [REDACTED]');
    expect(s.redact(`{"AWS_SECRET_ACCESS_KEY": "${secret}"}`)).toBe('{"AWS_SECRET_ACCESS_KEY": "[REDACTED]"}');
    expect(s.redact(`a hash ${secret}`)).toContain(secret); // unlabelled: could be anything
  });

  it('leaves ordinary text alone', () => {
    const text = 'skip the sk-learn docs; ghp is short; task-ant-colony; AKIA12; eyJ alone; aib_x';
    expect(sanitizer().redact(text)).toBe(text);
  });

  it('adds configured patterns, with a leading (?i) for case-insensitive ones', () => {
    const s = sanitizer(['(?i)password=\\S+', 'internal-[0-9]+']);
    expect(s.redact('PassWord=hunter2 and password=x internal-42 but Internal-42')).toBe(
      '[REDACTED] and [REDACTED] [REDACTED] but Internal-42',
    );
  });

  it('refuses bad patterns at config load, by path', () => {
    expect(() => compileRedaction('(')).toThrow(SyntaxError);
    expect(() => compileRedaction('a*')).toThrow(/empty/);
    const problems = (() => {
      try {
        validateConfig({ recording: { redact: ['ok', '([', '(?i)x?'], max_field_bytes: '10B' } }, 'test', {});
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    })();
    expect(problems).toEqual([
      'recording.max_field_bytes: must be at least 1KiB',
      expect.stringMatching(/^recording\.redact\[1\]: must be a valid regex/),
      'recording.redact[2]: must be a valid regex (it matches empty text)',
    ]);
  });
});

describe('sizes and cutting', () => {
  it('reads bytes, KiB and MiB', () => {
    expect(parseByteSize(65536)).toBe(65536);
    expect(parseByteSize('65536')).toBe(65536);
    expect(parseByteSize('64KiB')).toBe(65536);
    expect(parseByteSize('1MiB')).toBe(1048576);
    expect(() => parseByteSize('64 KB')).toThrow();
    expect(validateConfig({}, 'test', {}).recording).toEqual({
      max_field_bytes: '64KiB',
      redact: [],
      on_failure: 'refuse',
    });
  });

  it('cuts at a UTF-8 boundary, never inside a character', () => {
    expect(cutUtf8('héllo', 2)).toBe('h');
    expect(cutUtf8('héllo', 3)).toBe('hé');
    expect(cutUtf8('a😀b', 4)).toBe('a');
    expect(cutUtf8('a😀b', 5)).toBe('a😀');
    expect(cutUtf8('short', 100)).toBe('short');
  });
});

describe('records', () => {
  const tool = (fields: Partial<ToolUsageRecord>): ToolUsageRecord => ({
    _id: 't',
    interception_id: 'i',
    provider_response_id: null,
    tool_call_id: 'c',
    server_url: null,
    tool: 'read',
    input: '{}',
    injected: true,
    invocation_error: null,
    output: null,
    duration_ms: null,
    metadata: {},
    created_at: new Date(0),
    ...fields,
  });

  it('redacts every text field, then cuts long ones and marks the record with their original sizes', () => {
    const key = ['sk', 'ant', 'x'.repeat(30)].join('-');
    const long = `${key} ${'é'.repeat(1000)}`;
    const op = sanitizer([], 1024).apply({
      kind: 'tool_usage',
      doc: tool({ input: `{"k":"${key}"}`, output: long, invocation_error: `failed with ${key}` }),
    });
    if (op.kind !== 'tool_usage') throw new Error(op.kind);
    expect(op.doc.input).toBe('{"k":"[REDACTED]"}');
    expect(op.doc.invocation_error).toBe('failed with [REDACTED]');
    expect(op.doc.output).toBe(`[REDACTED] ${'é'.repeat(506)}`); // 11 + 1012 bytes
    expect(op.doc.truncated).toBe(true);
    expect(op.doc.original_bytes).toEqual({ output: Buffer.byteLength(long) });
  });

  it("treats a client tool's result and an annotation's note like any text", () => {
    const key = ['sk', 'ant', 'z'.repeat(30)].join('-');
    const long = `export KEY=${key}\n${'x'.repeat(2000)}`;
    const result = sanitizer([], 1024).apply({
      kind: 'tool_result',
      doc: {
        _id: 'r',
        interception_id: 'i',
        initiator_id: 'u',
        tool_call_id: 'c',
        output: long,
        is_error: false,
        created_at: new Date(0),
      },
    });
    if (result.kind !== 'tool_result') throw new Error(result.kind);
    expect(result.doc.output.startsWith('export KEY=[REDACTED]\nxxx')).toBe(true);
    expect(Buffer.byteLength(result.doc.output)).toBe(1024);
    expect(result.doc).toMatchObject({ truncated: true, original_bytes: { output: Buffer.byteLength(long) } });
    const note = sanitizer().apply({
      kind: 'annotation',
      doc: {
        _id: 'a',
        interception_id: 'i',
        client_session_id: null,
        initiator_id: 'u',
        repo: 'r',
        branch: null,
        issue_urls: [],
        pr_urls: [],
        note: `token ${key}`,
        created_at: new Date(0),
      },
    });
    if (note.kind !== 'annotation') throw new Error(note.kind);
    expect(note.doc.note).toBe('token [REDACTED]');
  });

  it('bounds the work on huge text and still redacts what it keeps', () => {
    const key = ['sk', 'proj', 'y'.repeat(40)].join('-');
    const huge = `${'a'.repeat(999)} ${key} ${'b'.repeat(5_000_000)}`;
    const op = sanitizer([], 2048).apply({
      kind: 'model_thought',
      doc: { _id: 'm', interception_id: 'i', content: huge, source: 'thinking', created_at: new Date(0) },
    });
    if (op.kind !== 'model_thought') throw new Error(op.kind);
    expect(op.doc.content).toBe(`${'a'.repeat(999)} [REDACTED] ${'b'.repeat(1037)}`);
    expect(op.doc.original_bytes).toEqual({ content: huge.length });
  });

  it('leaves records without free text, and short clean text, untouched', () => {
    const s = sanitizer();
    const ended = {
      kind: 'interception_ended' as const,
      id: 'i',
      ended_at: new Date(0),
      status: 'completed' as const,
      cost_usd: null,
      totals: {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_write_input_tokens: 0,
        tool_calls: 0,
      },
    };
    expect(s.apply(ended)).toBe(ended);
    const op = s.apply({ kind: 'tool_usage', doc: tool({ output: 'fine' }) });
    expect(op.kind === 'tool_usage' && op.doc).toMatchObject({ output: 'fine' });
    expect(op.kind === 'tool_usage' && 'truncated' in op.doc).toBe(false);
  });
});
