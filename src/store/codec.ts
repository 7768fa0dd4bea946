import { canonicalJson } from './canonical.ts';
import type { RecordOp } from './records.ts';

let second = Number.NaN;
let prefix = '';

/**
 * Date.toISOString, with the part up to the second kept from the last call: records come in
 * bursts of the same second, and formatting the whole date each time was a tenth of encoding.
 */
function iso(value: Date | null): string | null {
  if (!(value instanceof Date)) return value;
  const ms = value.getTime();
  const s = Math.floor(ms / 1000);
  if (s !== second) {
    const full = value.toISOString();
    if (full.length !== 24) return full; // years beyond 9999 or before 0: no shortcut
    second = s;
    prefix = full.slice(0, 20);
    return full;
  }
  const frac = ms - s * 1000;
  return `${prefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}

/**
 * One record as a journal line: plain JSON, dates as ISO strings. The dates are turned into
 * strings first: JSON.stringify leaves its fast path for any object with toJSON (a Date),
 * which made encoding cost four times as much.
 *
 * A record to insert is written `{"doc":…,"kind":…}` with its document as canonical JSON
 * (canonical.ts): exactly the content the store writer hashes into the chain (chain.ts), which
 * it then takes from the line as it is (`lineContent`) instead of encoding it once more.
 */
export function encodeOp(op: RecordOp): string {
  switch (op.kind) {
    case 'interception':
      return docLine(op.kind, { ...op.doc, started_at: iso(op.doc.started_at), ended_at: iso(op.doc.ended_at) });
    case 'interception_ended':
      return JSON.stringify({ ...op, ended_at: iso(op.ended_at) });
    default:
      return docLine(op.kind, { ...op.doc, created_at: iso(op.doc.created_at) });
  }
}

const DOC_PREFIX = '{"doc":';

const docLine = (kind: string, doc: object) => `${DOC_PREFIX}${canonicalJson(doc)},"kind":${JSON.stringify(kind)}}`;

/**
 * The canonical JSON of a journaled record's document, as its line holds it; undefined for a
 * line that does not (an end, or a line an earlier version wrote).
 */
export function lineContent(line: string, kind: string): string | undefined {
  if (!line.startsWith(DOC_PREFIX)) return undefined;
  const suffix = `,"kind":${JSON.stringify(kind)}}`;
  return line.endsWith(suffix) ? line.slice(DOC_PREFIX.length, line.length - suffix.length) : undefined;
}

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
