import type { Db } from 'mongodb';
import type { ToolUsageRecord } from '../records.ts';
import { COLLECTIONS } from '../store.ts';

/**
 * The newest client tool usage of a user with a tool_call_id, made at or before `before`: an
 * IXSCAN of initiator_call (initiator_id, tool_call_id, created_at desc).
 */
export function clientToolCall(
  db: Db,
  initiatorId: string,
  toolCallId: string,
  before = new Date(8.64e15),
): Promise<ToolUsageRecord | null> {
  return db
    .collection<ToolUsageRecord>(COLLECTIONS.toolUsages)
    .find({ initiator_id: initiatorId, tool_call_id: toolCallId, created_at: { $lte: before }, injected: false })
    .sort({ created_at: -1 })
    .limit(1)
    .next();
}
