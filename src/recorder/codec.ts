import type { RecordOp } from './records.ts';

/** One record as a journal line: plain JSON, dates as ISO strings. */
export const encodeOp = (op: RecordOp): string => JSON.stringify(op);

const date = (value: unknown) => (typeof value === 'string' ? new Date(value) : (value as null));

/** A journal line back into a record, its dates (the only non-JSON values) revived. */
export function decodeOp(line: string): RecordOp {
  const op = JSON.parse(line) as RecordOp;
  switch (op.kind) {
    case 'interception':
      op.doc.started_at = date(op.doc.started_at) as Date;
      op.doc.ended_at = date(op.doc.ended_at);
      break;
    case 'interception_ended':
      op.ended_at = date(op.ended_at) as Date;
      break;
    default:
      op.doc.created_at = date(op.doc.created_at) as Date;
  }
  return op;
}
