import type { RecordOp } from '../../store/records.ts';

/** The version of the event layout below; a change that could break a consumer gets a new one. */
export const SCHEMA = 'aibridge.audit/1';

/** The bridge process that wrote the record. */
export interface BridgeIdentity {
  host: string;
  pid: number;
  /** Under `--workers`: which worker (each has its own journal, so order is per worker). */
  worker?: number;
}

/**
 * One record as an audit sink sends it (README "Audit sinks"). `kind` and `id` together name
 * the event: a replay after a failure or restart repeats them, so a consumer can drop repeats.
 */
export interface AuditEvent {
  schema: typeof SCHEMA;
  kind: string;
  /** The record's id; for `interception` and `interception_ended`, the interception's. */
  id: string;
  /** Null only for an annotation made outside any interception (README "Work context"). */
  interception_id: string | null;
  /** Who made the interception; null when it could not be found (join on interception_id). */
  initiator: { id: string } | null;
  /** When it happened (RFC 3339): its start, creation or end. */
  time: string;
  /** The record's place in the tamper-evident chain, when it carries one. */
  seq?: number;
  hash?: string;
  bridge: BridgeIdentity;
  /** The record's fields as stored, dates as RFC 3339, without `_id`, `seq` and `hash`. */
  record: Record<string, unknown>;
}

type Fields = Record<string, unknown>;

/** The interception a record belongs to (the interception itself for its own records); null for none. */
export function interceptionIdOf(op: RecordOp): string | null {
  const value = op as unknown as { id?: unknown; doc?: Fields };
  if (value.doc) {
    if (value.doc.interception_id === null) return null;
    return String(value.doc.interception_id ?? value.doc._id);
  }
  return String((value as Fields).interception_id ?? value.id);
}

/** The initiator a record names itself (interceptions, client tool results, annotations); undefined for the rest. */
export function initiatorOf(op: RecordOp): string | undefined {
  if (op.kind === 'interception_ended') return undefined;
  const initiator = (op.doc as { initiator_id?: unknown }).initiator_id;
  // A tool usage carries its interception's initiator too (to find it by); learning from it is harmless.
  return typeof initiator === 'string' ? initiator : undefined;
}

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/** Builds the event of one journal record; works on kinds added later (a `doc`, or fields of their own). */
export function toEvent(op: RecordOp, initiator: string | null, bridge: BridgeIdentity): AuditEvent {
  const { kind, doc, ...own } = op as unknown as { kind: string; doc?: Fields } & Fields;
  const source = doc ?? own;
  const record: Fields = {};
  let seq: unknown;
  let hash: unknown;
  for (const [key, value] of Object.entries(source)) {
    if (key === 'seq') seq = value;
    else if (key === 'hash') hash = value;
    else if (key !== '_id' && !(doc === undefined && key === 'id')) record[key] = iso(value);
  }
  const time = record.created_at ?? (kind === 'interception' ? record.started_at : record.ended_at);
  return {
    schema: SCHEMA,
    kind,
    id: String(doc ? doc._id : own.id),
    interception_id: interceptionIdOf(op),
    initiator: initiator === null ? null : { id: initiator },
    time: typeof time === 'string' ? time : new Date().toISOString(),
    ...(typeof seq === 'number' ? { seq } : {}),
    ...(typeof hash === 'string' ? { hash } : {}),
    bridge,
    record,
  };
}
