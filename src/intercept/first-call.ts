import { isUtf8 } from 'node:buffer';
import type { JsonScan } from '../limits/json-scan.ts';
import type { InjectedTool } from '../mcp/types.ts';
import { isAsciiText } from './client-body.ts';
import { type MemberEdit, spliceMembers } from './splice.ts';
import { prependTools } from './tool-format.ts';
import type { ApiModule, Json } from './types.ts';

export interface FirstCall {
  /** The first upstream call's bytes. */
  body: Buffer | string;
  /** Streaming: false when the bridge asked for usage the client did not (it is hidden again). */
  clientWantsUsage: boolean;
  /**
   * The changed body again, parsed from the client's bytes, for the calls after the first. The
   * parsed body is not kept meanwhile: held for a whole stream, a large one outlives the young
   * generation and costs a full collection, and most requests never make a second call.
   */
  later(): Json;
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
  /** The body parser's scan of `raw` (where its top-level members lie). */
  scan: JsonScan,
  /** False when `body` was parsed from latin1 (client-body.ts): its strings are exact only where ASCII. */
  exact = true,
): FirstCall {
  // The injected tools go first, in the API's own format; the client's tools and settings stay.
  const formatted = tools.length ? api.formatTools(tools) : undefined;
  const change = (target: Json) => {
    if (formatted) prependTools(target, formatted);
    return streaming ? api.prepareStreaming(target) : { clientWantsUsage: true };
  };
  const later = () => {
    const again = JSON.parse(raw.toString('utf8')) as Json;
    change(again);
    return again;
  };
  const prepared = change(body);
  const edits: MemberEdit[] = [];
  if (formatted) edits.push({ name: 'tools', prepend: formatted.json });
  let readable = true; // what is spliced in must be the client's text: from a latin1 parse, only ASCII is
  for (const name of prepared.changed ?? []) {
    const json = JSON.stringify(body[name]);
    if (!exact && !isAsciiText(json)) readable = false;
    edits.push({ name, set: json });
  }
  const { clientWantsUsage } = prepared;
  if (!edits.length) return { body: raw, clientWantsUsage, later };
  // No closure here may hold `body`: one would share a context with `later`, which lives as long as the request.
  const shape = readable && isUtf8(raw) ? scan.object : undefined;
  const spliced = shape && spliceMembers(raw, shape, edits);
  return { body: spliced ?? Buffer.from(JSON.stringify(exact ? body : later())), clientWantsUsage, later };
}
