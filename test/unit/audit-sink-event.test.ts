import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SCHEMA, toEvent } from '../../src/recorder/sinks/event.ts';
import { Initiators } from '../../src/recorder/sinks/initiators.ts';
import { octetFrame, syslogMessage } from '../../src/recorder/sinks/syslog.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { interceptionRecord, promptRecord, toolUsageRecord } from '../helpers/records.ts';

const bridge = { host: 'bridge-1', pid: 4242 };
const at = new Date('2026-11-30T12:34:56.789Z');
const interception = interceptionRecord({ started_at: at, ended_at: null, status: null, initiator_id: 'user-7' });

describe('audit event', () => {
  it('carries the schema, kind, ids, initiator, time, writer and the record with RFC 3339 dates', () => {
    const event = toEvent({ kind: 'interception', doc: interception }, 'user-7', bridge);
    expect(event).toEqual({
      schema: SCHEMA,
      kind: 'interception',
      id: interception._id,
      interception_id: interception._id,
      initiator: { id: 'user-7' },
      time: '2026-11-30T12:34:56.789Z',
      bridge,
      record: {
        ...Object.fromEntries(Object.entries(interception).filter(([k]) => k !== '_id')),
        started_at: at.toISOString(),
      },
    });
    expect(JSON.parse(JSON.stringify(event))).toEqual(event); // plain JSON: nothing lost on the wire
  });

  it('names a child by its own id and its interception, and takes the time it was created', () => {
    const prompt = promptRecord(interception, 'fix the bug', { created_at: new Date('2026-11-30T12:35:00Z') });
    const event = toEvent({ kind: 'user_prompt', doc: prompt }, 'user-7', bridge);
    expect(event).toMatchObject({
      kind: 'user_prompt',
      id: prompt._id,
      interception_id: interception._id,
      time: '2026-11-30T12:35:00.000Z',
      record: { prompt: 'fix the bug', interception_id: interception._id, created_at: '2026-11-30T12:35:00.000Z' },
    });
    expect(event.record).not.toHaveProperty('_id');
  });

  it('gives an interception’s end the interception’s id and its end time', () => {
    const op: RecordOp = {
      kind: 'interception_ended',
      id: interception._id,
      ended_at: new Date('2026-11-30T12:40:00Z'),
      status: 'failed',
      cost_usd: null,
      totals: {
        input_tokens: 1,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_write_input_tokens: 0,
        tool_calls: 0,
      },
    };
    const event = toEvent(op, null, bridge);
    expect(event).toMatchObject({
      kind: 'interception_ended',
      id: interception._id,
      interception_id: interception._id,
      initiator: null,
      time: '2026-11-30T12:40:00.000Z',
      record: { status: 'failed', ended_at: '2026-11-30T12:40:00.000Z' },
    });
    expect(event.record).not.toHaveProperty('id');
    expect(event.record).not.toHaveProperty('kind');
  });

  it('lifts seq and hash out of the record when it carries them, and leaves them out when not', () => {
    const tool = { ...toolUsageRecord(interception), seq: 12, hash: 'ab'.repeat(32) };
    const event = toEvent({ kind: 'tool_usage', doc: tool } as RecordOp, 'user-7', bridge);
    expect(event.seq).toBe(12);
    expect(event.hash).toBe('ab'.repeat(32));
    expect(event.record).not.toHaveProperty('seq');
    expect(Object.keys(event).slice(0, 8)).toEqual([
      'schema',
      'kind',
      'id',
      'interception_id',
      'initiator',
      'time',
      'seq',
      'hash',
    ]);
    expect(toEvent({ kind: 'interception', doc: interception }, null, bridge)).not.toHaveProperty('seq');
  });

  it('takes a kind added later, with a doc or with fields of its own', () => {
    const id = randomUUID();
    const later = { kind: 'tool_result', id, interception_id: interception._id, result_at: at } as unknown as RecordOp;
    expect(toEvent(later, 'user-7', bridge)).toMatchObject({
      kind: 'tool_result',
      id,
      interception_id: interception._id,
      time: expect.any(String),
      record: { interception_id: interception._id, result_at: at.toISOString() },
    });
  });
});

describe('initiators', () => {
  const child = (interceptionId: string): RecordOp => ({
    kind: 'user_prompt',
    doc: promptRecord({ _id: interceptionId, started_at: at }, 'hi'),
  });

  it('learns them from interception records and gives them to the children that follow', async () => {
    const initiators = new Initiators();
    const a = interceptionRecord({ initiator_id: 'alice' });
    const b = interceptionRecord({ initiator_id: 'bob' });
    const ops: RecordOp[] = [
      { kind: 'interception', doc: a },
      child(a._id),
      { kind: 'interception', doc: b },
      child(b._id),
      child(a._id),
    ];
    expect(await initiators.resolve(ops)).toEqual(['alice', 'alice', 'bob', 'bob', 'alice']);
  });

  it('looks up an interception it never saw once per batch, and remembers what it found', async () => {
    const asked: string[] = [];
    const initiators = new Initiators(async (id) => {
      asked.push(id);
      return id === 'known' ? 'carol' : null;
    });
    expect(await initiators.resolve([child('known'), child('known'), child('gone')])).toEqual(['carol', 'carol', null]);
    expect(asked.sort()).toEqual(['gone', 'known']);
    expect(await initiators.resolve([child('known')])).toEqual(['carol']);
    expect(asked).toHaveLength(2);
  });

  it('sends a record on with no initiator when the lookup fails', async () => {
    const initiators = new Initiators(async () => {
      throw new Error('store unreachable');
    });
    expect(await initiators.resolve([child('x')])).toEqual([null]);
  });

  it('takes the initiator a client tool result or an annotation names, even one outside any interception', async () => {
    const initiators = new Initiators(async () => {
      throw new Error('never asked: these records name their initiator');
    });
    const result: RecordOp = {
      kind: 'tool_result',
      doc: {
        _id: 'r1',
        interception_id: 'later',
        initiator_id: 'dave',
        tool_call_id: 'toolu_1',
        output: 'ok',
        is_error: false,
        created_at: at,
      },
    };
    const annotation: RecordOp = {
      kind: 'annotation',
      doc: {
        _id: 'a1',
        interception_id: null,
        client_session_id: null,
        initiator_id: 'erin',
        repo: 'github.com/acme/app',
        branch: null,
        issue_urls: [],
        pr_urls: [],
        note: null,
        created_at: at,
      },
    };
    expect(await initiators.resolve([result, child('later'), annotation])).toEqual(['dave', 'dave', 'erin']);
    expect(toEvent(result, 'dave', bridge)).toMatchObject({
      kind: 'tool_result',
      id: 'r1',
      interception_id: 'later',
      time: at.toISOString(),
      record: { tool_call_id: 'toolu_1', output: 'ok', is_error: false, initiator_id: 'dave' },
    });
    expect(toEvent(annotation, 'erin', bridge)).toMatchObject({ kind: 'annotation', id: 'a1', interception_id: null });
  });

  it('is bounded: the oldest interceptions are forgotten first', async () => {
    const initiators = new Initiators(undefined, 2);
    const docs = ['u1', 'u2', 'u3'].map((u) => interceptionRecord({ initiator_id: u }));
    await initiators.resolve(docs.map((doc) => ({ kind: 'interception', doc })));
    expect(await initiators.resolve(docs.map((doc) => child(doc._id)))).toEqual([null, 'u2', 'u3']);
  });
});

describe('syslog message', () => {
  const event = (json: string, kind = 'user_prompt') => ({ kind, time: '2026-11-30T12:34:56.789Z', json });

  it('is RFC 5424: priority (log audit, informational), version, time, host, app, pid, msgid, no SD, the JSON', () => {
    const json = JSON.stringify({ a: 1 });
    expect(syslogMessage(event(json), 77)).toMatch(
      /^<110>1 2026-11-30T12:34:56\.789Z [\x21-\x7e]{1,255} aibridge 77 user_prompt - \{"a":1\}$/,
    );
  });

  it('escapes every non-ASCII character, so the message needs no BOM and parses to the same JSON', () => {
    const value = { prompt: 'héllo ✓ 😀 \u2028 "q" \\ \n' };
    const message = syslogMessage(event(JSON.stringify(value)));
    expect(message).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(message.slice(message.indexOf(' - ') + 3))).toEqual(value);
  });

  it('keeps header fields printable and bounded, and a time it cannot vouch for becomes NILVALUE', () => {
    const message = syslogMessage({ kind: `bad kind ${'x'.repeat(40)}`, time: 'yesterday', json: '{}' });
    const [, time, , , , msgid] = message.split(' ');
    expect(time).toBe('-');
    expect(msgid).toHaveLength(32);
    expect(msgid).toMatch(/^[\x21-\x7e]+$/);
  });

  it('is framed by octet counting: its length in bytes, a space, the message', () => {
    expect(octetFrame('<110>1 abc')).toBe('10 <110>1 abc');
  });
});
