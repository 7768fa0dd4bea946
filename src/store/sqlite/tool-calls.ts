import type { ToolUsageRecord } from '../records.ts';
import { COLLECTIONS } from '../store.ts';
import { decode } from './rows.ts';
import type { Sql } from './sql.ts';

/**
 * The newest client tool usage of a user with a tool_call_id, made at or before `before`: one
 * seek of tool_usages_call (initiator_id, tool_call_id, created_at), read backwards.
 */
export const CLIENT_TOOL_CALL = `SELECT doc FROM tool_usages
  WHERE initiator_id = ? AND tool_call_id = ? AND created_at <= ? AND doc ->> '$.injected' = 0
  ORDER BY created_at DESC LIMIT 1`;

export function clientToolCall(
  sql: Sql,
  initiatorId: string,
  toolCallId: string,
  before = new Date(8.64e15),
): ToolUsageRecord | null {
  const row = sql.get(CLIENT_TOOL_CALL, [initiatorId, toolCallId, before.getTime()]);
  return row ? decode<ToolUsageRecord>(COLLECTIONS.toolUsages, row.doc as string) : null;
}
