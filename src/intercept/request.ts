import type { IncomingHttpHeaders } from 'node:http';
import { clientSessionId } from '../clients.ts';
import { type JsonScan, scanBody } from '../limits/json-scan.ts';
import type { InjectedTool } from '../mcp/types.ts';
import { ClientBody, isAsciiText } from './client-body.ts';
import { prepareFirstCall } from './first-call.ts';
import type { ApiModule, ClientToolResult, Json, ResultReader } from './types.ts';

/** A bridged request's body, parsed and checked: or why the upstream could not take it. */
export type ReadBody = { client: ClientBody } | { error: string };

/** Parses and checks the client's body; `modelInBody` is false where the URL names the model (Bedrock, Vertex). */
export function readBody(api: ApiModule, raw: unknown, modelInBody: boolean): ReadBody {
  let client: ClientBody | undefined;
  try {
    client = Buffer.isBuffer(raw) && raw.length ? new ClientBody(raw) : undefined;
  } catch (err) {
    return { error: `request body is not valid JSON: ${(err as Error).message}` };
  }
  const body: unknown = client?.body;
  if (!client || !body || typeof body !== 'object' || Array.isArray(body)) {
    return { error: 'request body must be a JSON object' };
  }
  const problem = api.validate(body as Json, modelInBody); // shapes and types only: exact whichever way it was read
  return problem ? { error: problem } : { client };
}

/** The model the body names (read exactly, even from a body parsed as latin1). */
export const modelOf = (client: ClientBody): string =>
  client.text(
    (body) => String(body.model),
    (m) => [m],
  );

/**
 * What the interception needs of the parsed body: the prompt to record, the agent's session id,
 * the results of client tools it carries back, and the first upstream call with the tools
 * injected. The parsed body is let go afterwards (first-call.ts keeps only what a second call needs).
 */
export function understand(
  api: ApiModule,
  client: ClientBody,
  scan: JsonScan | undefined,
  tools: readonly InjectedTool[],
  streaming: boolean,
  headers: IncomingHttpHeaders,
) {
  const { prompt, sessionId } = client.text(
    (body) => ({ prompt: api.prompt(body), sessionId: clientSessionId(headers, body) }),
    (read) => [read.prompt, read.sessionId],
  );
  const scanned = scan ?? scanBody(client.raw);
  const results = clientResults(api.results, client, scanned);
  const first = prepareFirstCall(api, client.raw, client.body, tools, streaming, scanned, client.exact);
  return { prompt, sessionId, results, first };
}

const exactText = (results: readonly ClientToolResult[]) =>
  results.every((r) => isAsciiText(r.output) && isAsciiText(r.callId));

/**
 * The client tool results a request carries, exactly. A body read as latin1 (client-body.ts) has
 * them exact where ASCII; a result beyond ASCII (a file with an accent, a box-drawing `ls`) is
 * read again from its own items' bytes alone — where the scan found them — not the whole body.
 */
function clientResults(reader: ResultReader, client: ClientBody, scan: JsonScan): ClientToolResult[] {
  const items = client.body[reader.member];
  if (!Array.isArray(items)) return [];
  const from = reader.start(items);
  if (from === items.length) return [];
  const found = reader.read(items.slice(from));
  if (client.exact || exactText(found)) return found;
  const tail = exactTail(client.raw, scan, reader.member, from, items.length);
  if (tail) return reader.read(tail);
  return client.text(
    (body) => reader.read(body[reader.member].slice(from)),
    (read) => read.flatMap((r) => [r.callId, r.output]),
  );
}

/** Items `from` to the end of a top-level array member, parsed from their own bytes as UTF-8. */
function exactTail(raw: Buffer, scan: JsonScan, member: string, from: number, count: number): unknown[] | undefined {
  const span = scan.object?.members.get(member);
  const starts = scan.object?.elements.get(member);
  if (!span || !starts || starts.length !== count) return undefined;
  const start = starts[from] as number;
  try {
    const tail = JSON.parse(`[${raw.subarray(start, span.end).toString('utf8')}`) as unknown[];
    return Array.isArray(tail) && tail.length === count - from ? tail : undefined;
  } catch {
    return undefined; // not what the scan promised: read the whole body again instead
  }
}
