import { isUtf8 } from 'node:buffer';
import { scanBody } from '../limits/json-scan.ts';
import type { InjectedTool } from '../mcp/types.ts';
import { type MemberEdit, spliceMembers } from './splice.ts';
import type { ApiModule, Json } from './types.ts';

export interface FirstCall {
  /** The first upstream call's bytes. */
  body: Buffer | string;
  /** Streaming: false when the bridge asked for usage the client did not (it is hidden again). */
  clientWantsUsage: boolean;
}

/**
 * Injects the tools and prepares streaming on the parsed body (later calls serialise it, grown by
 * each turn), and gives the first call's bytes: the client's own when nothing changed, else the
 * client's with the changes spliced in. Serialising again is the fallback for bytes where a splice
 * is not exact: top-level names repeated or escaped, or invalid UTF-8 (which parsing replaced).
 */
export function prepareFirstCall(
  api: ApiModule,
  raw: Buffer,
  body: Json,
  tools: readonly InjectedTool[],
  streaming: boolean,
): FirstCall {
  const edits: MemberEdit[] = [];
  if (tools.length) {
    api.inject(body, tools);
    edits.push({ name: 'tools', prepend: api.formatTools(tools).json });
  }
  let clientWantsUsage = true;
  if (streaming) {
    const prepared = api.prepareStreaming(body);
    clientWantsUsage = prepared.clientWantsUsage;
    for (const name of prepared.changed ?? []) edits.push({ name, set: JSON.stringify(body[name]) });
  }
  if (!edits.length) return { body: raw, clientWantsUsage };
  const shape = isUtf8(raw) ? scanBody(raw).object : undefined;
  return { body: (shape && spliceMembers(raw, shape, edits)) ?? JSON.stringify(body), clientWantsUsage };
}
