import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/observability/logger.ts';
import type { RecordOp } from '../../src/store/records.ts';
import type { Store } from '../../src/store/store.ts';
import { LogCapture } from './bridge.ts';
import { interceptionRecord } from './records.ts';

/** The error a store gives for a passing condition (an outage, a full disk): the fake's isPermanent says no. */
export const passing = (message: string) => Object.assign(new Error(message), { transient: true });

/**
 * A store behind the Store interface that keeps what it is given; it can be down, refuse
 * records for good (by id), or fail each write with `failWith` (a passing error unless made otherwise).
 */
export function fakeStore() {
  const written: RecordOp[][] = [];
  const state = { down: false, refuse: new Set<string>(), failWith: undefined as Error | undefined };
  const idOf = (op: RecordOp) => (op.kind === 'interception_ended' ? op.id : op.doc._id);
  const store = {
    kind: 'embedded',
    location: 'fake',
    records: {
      async write(ops: RecordOp[]) {
        if (state.down) throw passing('store unreachable');
        if (state.failWith) throw state.failWith;
        if (ops.some((op) => state.refuse.has(idOf(op)))) throw new Error('document too large');
        written.push(ops);
      },
    },
    async ping() {
      return !state.down;
    },
    isPermanent: (err: unknown) => !(err as { transient?: boolean }).transient,
  } as unknown as Store;
  return { store, written, state, all: () => written.flat() };
}

export const started = (id: string): RecordOp => ({
  kind: 'interception',
  doc: interceptionRecord({ _id: id, ended_at: null, status: null, metadata: { streaming: false } }),
});

export const prompt = (id: string, text = 'hi'): RecordOp => ({
  kind: 'user_prompt',
  doc: { _id: randomUUID(), interception_id: id, provider_response_id: null, prompt: text, created_at: new Date() },
});

export const ended = (id: string): RecordOp => ({
  kind: 'interception_ended',
  id,
  ended_at: new Date(),
  status: 'completed',
  cost_usd: 0.5,
  totals: { input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_write_input_tokens: 0, tool_calls: 0 },
  metadata: { iterations: 1 },
});

/** The id of the interception a written record belongs to. */
export const interceptionOf = (op: RecordOp): string =>
  op.kind === 'interception'
    ? op.doc._id
    : op.kind === 'interception_ended'
      ? op.id
      : (op.doc.interception_id ?? op.doc._id);

export const logger = () => {
  const logs = new LogCapture();
  return { logs, log: createLogger({ level: 'debug', destination: logs }) };
};
