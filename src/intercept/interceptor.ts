import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { classifyClient, clientSessionId } from '../clients.ts';
import { parseDuration } from '../config/duration.ts';
import type { Principal } from '../identity/users.ts';
import { errorResult } from '../mcp/tool-result.ts';
import type { RequestBridge } from '../mcp/types.ts';
import { InterceptionObserver } from '../observability/interception-observer.ts';
import { abortOnClose, type Provider } from '../providers/provider.ts';
import { sanitizerFor } from '../recorder/sanitize.ts';
import type { AppContext } from '../server/context.ts';
import { refuseHijacked } from '../server/refuse.ts';
import { ClientBody } from './client-body.ts';
import { httpChannel } from './client-channel.ts';
import { prepareFirstCall } from './first-call.ts';
import { runInterception } from './interception.ts';
import type { ApiModule, Json } from './types.ts';
import { callUpstream } from './upstream.ts';

/** No MCP tools: nothing injected, nothing claimed. */
const NO_TOOLS: RequestBridge = {
  tools: [],
  claim: () => undefined,
  call: async () => ({ ...errorResult('no tools'), durationMs: 0 }),
};

interface Exchange {
  ctx: AppContext;
  provider: Provider;
  api: ApiModule;
  principal: Principal;
  request: FastifyRequest;
  res: ServerResponse;
}

/** The API path plus the client's query string (Claude Code sends `?beta=true`). */
function upstreamPathOf(ex: Exchange): string {
  const query = ex.request.url.indexOf('?');
  return query < 0 ? ex.api.path : ex.api.path + ex.request.url.slice(query);
}

/** Parses and checks the client's body; answers 400 in the provider's format when it is unusable. */
function parseBody(ex: Exchange): ClientBody | undefined {
  const raw = ex.request.body;
  const refuse = (message: string) => refuseHijacked(ex.ctx, ex.res, ex.provider, 'invalid_request', message);
  let client: ClientBody | undefined;
  try {
    client = Buffer.isBuffer(raw) && raw.length ? new ClientBody(raw) : undefined;
  } catch (err) {
    refuse(`request body is not valid JSON: ${(err as Error).message}`);
    return undefined;
  }
  const body: unknown = client?.body;
  if (!client || !body || typeof body !== 'object' || Array.isArray(body)) {
    refuse('request body must be a JSON object');
    return undefined;
  }
  const problem = ex.api.validate(body as Json); // shapes and types only: exact whichever way it was read
  if (problem) {
    refuse(problem);
    return undefined;
  }
  return client;
}

/**
 * One interception: inject the user's MCP tools, call the upstream, run the injected tool calls
 * the model makes and call again, until the model is done; the client sees one response. Its
 * records, metrics and spans all come from its one observer.
 */
export async function intercept(ex: Exchange): Promise<void> {
  const client = parseBody(ex);
  if (!client) return;
  const { ctx } = ex;
  const model = client.text(
    (body) => String(body.model),
    (m) => [m],
  );
  const streaming = client.body.stream === true;
  const observer = new InterceptionObserver(
    {
      metrics: ctx.metrics,
      recorder: ctx.recorder,
      sanitizer: sanitizerFor(ctx.config.recording),
      cost: (model, usage) => ctx.prices.cost(model, ex.provider.type, usage),
      spent: (usd) => ctx.budgets.noteCost(ex.principal.user._id, usd),
    },
    {
      provider: ex.provider,
      route: ex.api.path,
      method: ex.request.method,
      path: ex.request.url.split('?')[0] as string,
      user: ex.principal.user,
      model,
      streaming,
      headers: ex.request.headers,
    },
  );
  // Handed over, not kept here: the parsed body must be free to go once the first call is prepared.
  const held: { client?: ClientBody } = { client };
  await observer.run(() => interceptParsed(ex, held, observer, { model, streaming }));
}

/** What the interception needs of the parsed body; the body itself is let go (first-call.ts). */
function understand(ex: Exchange, client: ClientBody, tools: RequestBridge['tools'], streaming: boolean) {
  const { api, request } = ex;
  const { prompt, sessionId } = client.text(
    (body) => ({ prompt: api.prompt(body), sessionId: clientSessionId(request.headers, body) }),
    (read) => [read.prompt, read.sessionId],
  );
  return { prompt, sessionId, first: prepareFirstCall(api, client.raw, client.body, tools, streaming, client.exact) };
}

async function interceptParsed(
  ex: Exchange,
  held: { client?: ClientBody },
  observer: InterceptionObserver,
  { model, streaming }: { model: string; streaming: boolean },
): Promise<void> {
  const { ctx, provider, api, principal, request, res } = ex;
  const abort = abortOnClose(res);
  const acquired = (await ctx.mcp?.pool.acquire(principal.user)) ?? NO_TOOLS;
  const { max_iterations: maxIterations, parallelism, keepalive } = ctx.config.tool_loop;
  // With one upstream call allowed there is no loop to run tools in.
  const bridge = maxIterations > 1 ? acquired : NO_TOOLS;
  const tools = bridge.tools;
  const { prompt, sessionId, first } = understand(ex, held.client as ClientBody, tools, streaming);
  held.client = undefined;

  observer.started({
    record: {
      initiator_id: principal.user._id,
      api_key_id: principal.apiKeyId,
      provider: provider.type,
      provider_name: provider.name,
      model,
      client: classifyClient(request.headers),
      user_agent: request.headers['user-agent'] ?? null,
      client_session_id: sessionId,
      started_at: new Date(),
      metadata: {},
    },
    prompt,
    thoughtSource: api.thoughtSource,
  });

  await runInterception({
    api,
    body: first.later,
    firstBody: first.body,
    streaming,
    bridge,
    events: observer,
    channel: httpChannel(res, provider.type),
    send: (sent) => callUpstream(provider, upstreamPathOf(ex), request.headers, sent, abort.signal, model),
    signal: abort.signal,
    limits: { maxIterations, parallelism, keepAliveMs: parseDuration(keepalive) },
    clientWantsUsage: first.clientWantsUsage,
    toolsInjected: tools.length > 0,
    log: { warn: (fields, message) => request.log.warn({ ...fields, interception_id: observer.id }, message) },
    requestId: request.id,
  });
}
