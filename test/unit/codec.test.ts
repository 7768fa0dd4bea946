import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/store/canonical.ts';
import { contentJson } from '../../src/store/chain.ts';
import { decodeOp, encodeOp, lineContent } from '../../src/store/codec.ts';
import type { RecordOp } from '../../src/store/records.ts';

const at = new Date('2026-11-30T12:34:56.789Z');
const totals = {
  input_tokens: 1,
  output_tokens: 2,
  cache_read_input_tokens: 3,
  cache_write_input_tokens: 4,
  tool_calls: 1,
};
const OPS: RecordOp[] = [
  {
    kind: 'interception',
    doc: {
      _id: randomUUID(),
      initiator_id: 'u',
      api_key_id: 'k',
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-x',
      client: 'Claude Code',
      user_agent: 'claude-cli/2.1.0',
      client_session_id: null,
      started_at: at,
      ended_at: null,
      status: null,
      cost_usd: null,
      totals: null,
      metadata: { note: 'café → "quoted"' },
    },
  },
  {
    kind: 'interception_ended',
    id: 'i',
    ended_at: at,
    status: 'completed',
    cost_usd: 0.25,
    totals,
    metadata: { a: 1 },
  },
  { kind: 'interception_ended', id: 'i', ended_at: at, status: 'failed', cost_usd: null, totals },
  {
    kind: 'user_prompt',
    doc: { _id: 'p', interception_id: 'i', provider_response_id: null, prompt: 'hi\n\u2028', created_at: at },
  },
  {
    kind: 'tool_usage',
    doc: {
      _id: 't',
      interception_id: 'i',
      provider_response_id: 'r',
      tool_call_id: 'c',
      server_url: null,
      tool: 'Read',
      input: '{"path":"a"}',
      injected: false,
      invocation_error: null,
      output: null,
      duration_ms: null,
      metadata: {},
      created_at: at,
    },
  },
  {
    kind: 'model_thought',
    doc: { _id: 'm', interception_id: 'i', content: 'hmm', source: 'thinking', created_at: at },
  },
];

describe('journal codec', () => {
  it('writes what JSON.stringify would, dates as ISO strings, and reads it back', () => {
    for (const op of OPS) {
      expect(JSON.parse(encodeOp(op))).toEqual(JSON.parse(JSON.stringify(op)));
      expect(decodeOp(encodeOp(op))).toEqual(op);
    }
  });

  it('writes a record to insert with its document as canonical JSON, which the store writer takes as it is', () => {
    for (const op of OPS) {
      const line = encodeOp(op);
      if (!('doc' in op)) {
        expect(lineContent(line, op.kind)).toBeUndefined();
        continue;
      }
      const content = lineContent(line, op.kind);
      expect(content).toBe(contentJson((decodeOp(line) as { doc: object }).doc));
      // Names sorted at every depth, no whitespace.
      expect(content).toBe(canonicalJson(JSON.parse(content as string)));
    }
    // A line an earlier version wrote (kind first) is hashed from its record instead.
    const [first] = OPS as [RecordOp];
    expect(lineContent(JSON.stringify(first), first.kind)).toBeUndefined();
  });
});

describe('journal dates', () => {
  it('are Date.toISOString, however close together and wherever in time', () => {
    const base = Date.parse('2026-11-30T23:59:59.000Z');
    const times = [
      ...Array.from({ length: 2_500 }, (_, i) => base + i), // across a second, a minute, a day and a year's end
      0,
      -1,
      Date.parse('1969-12-31T23:59:59.999Z'),
      Date.parse('9999-12-31T23:59:59.999Z'),
      Date.parse('2026-03-01T12:00:00.007Z'),
      Date.parse('2026-03-01T12:00:00.070Z'),
    ];
    for (const ms of times) {
      const at = new Date(ms);
      const op: RecordOp = {
        kind: 'interception_ended',
        id: 'i',
        ended_at: at,
        status: 'completed',
        cost_usd: null,
        totals,
      };
      expect(JSON.parse(encodeOp(op)).ended_at).toBe(at.toISOString());
    }
  });
});
