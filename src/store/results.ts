import type { ToolResultRecord, ToolUsageRecord } from './records.ts';

/**
 * What a client tool's result sets on its call, or null when the call takes none: an injected
 * call (its output is the bridge's own), or one already answered (the first result stays, so a
 * replayed or resent result changes nothing).
 */
export function resultFields(
  call: ToolUsageRecord,
  result: ToolResultRecord,
): Pick<
  ToolUsageRecord,
  'output' | 'is_error' | 'result_at' | 'result_interception_id' | 'truncated' | 'original_bytes'
> | null {
  if (call.injected || (call.result_at !== undefined && call.result_at !== null)) return null;
  const fields: ReturnType<typeof resultFields> = {
    output: result.output,
    is_error: result.is_error,
    result_at: result.created_at,
    result_interception_id: result.interception_id,
  };
  if (result.truncated) {
    fields.truncated = true;
    fields.original_bytes = { ...call.original_bytes, ...result.original_bytes };
  }
  return fields;
}

/** The call with its result, or null when it takes none (resultFields). */
export function withResult(call: ToolUsageRecord, result: ToolResultRecord): ToolUsageRecord | null {
  const fields = resultFields(call, result);
  return fields && { ...call, ...fields };
}
