import type { IncomingHttpHeaders } from 'node:http';
import { clientSessionId } from '../clients.ts';
import { type JsonScan, scanBody } from '../limits/json-scan.ts';
import type { InjectedTool } from '../mcp/types.ts';
import { ClientBody } from './client-body.ts';
import { prepareFirstCall } from './first-call.ts';
import type { ApiModule, Json } from './types.ts';

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
  const { prompt, sessionId, results } = client.text(
    (body) => ({ prompt: api.prompt(body), sessionId: clientSessionId(headers, body), results: api.toolResults(body) }),
    (read) => [read.prompt, read.sessionId, ...read.results.flatMap((r) => [r.callId, r.output])],
  );
  const first = prepareFirstCall(
    api,
    client.raw,
    client.body,
    tools,
    streaming,
    scan ?? scanBody(client.raw),
    client.exact,
  );
  return { prompt, sessionId, results, first };
}
