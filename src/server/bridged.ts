import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { classifyClient } from '../clients.ts';
import { parseDuration } from '../config/duration.ts';
import type { Principal } from '../identity/users.ts';
import { httpChannel } from '../intercept/client-channel.ts';
import { runInterception } from '../intercept/interception.ts';
import { InterceptionObserver } from '../intercept/observer.ts';
import { modelOf, readBody, understand } from '../intercept/request.ts';
import { clientToolNames } from '../intercept/tool-format.ts';
import type { ApiModule } from '../intercept/types.ts';
import { callUpstream } from '../intercept/upstream.ts';
import { clientToolsWin } from '../mcp/client-wins.ts';
import { errorResult } from '../mcp/tool-result.ts';
import type { RequestBridge } from '../mcp/types.ts';
import { BridgeError } from '../providers/errors.ts';
import { abortOnClose } from '../providers/headers.ts';
import type { BridgedRoute, RouteRequest } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { sanitizerFor } from '../recorder/sanitize.ts';
import { runWorkTool, type WorkCaller } from '../work/annotate.ts';
import { withWorkTool } from '../work/inject.ts';
import { budgetRefusal } from './budget-refusal.ts';
import type { AppContext } from './context.ts';
import { refuseHijacked } from './refuse.ts';

/** No MCP tools: nothing injected, nothing claimed. */
const NO_TOOLS: RequestBridge = {
  tools: [],
  claim: () => undefined,
  call: async () => ({ ...errorResult('no tools'), durationMs: 0 }),
};

/** One bridged request, as the route hands it over. */
export interface BridgedExchange {
  ctx: AppContext;
  provider: Provider;
  route: BridgedRoute;
  api: ApiModule;
  principal: Principal;
  request: FastifyRequest;
  res: ServerResponse;
}

/** The route's view of the request: its path parameters and query string. */
export function routeRequest(request: FastifyRequest): RouteRequest {
  const query = request.url.indexOf('?');
  return { params: request.params as Record<string, string>, query: query < 0 ? '' : request.url.slice(query) };
}

/**
 * Wires one interception (src/intercept runs it): reads the body, builds its observer (records,
 * metrics, spans), acquires the user's MCP tools, and hands the engine everything it works with.
 * Refusals answer in the provider's format.
 */
export async function bridge(ex: BridgedExchange): Promise<void> {
  const { ctx, provider, route, api, request, res } = ex;
  const refuse = (message: string) => refuseHijacked(ctx, res, provider, 'invalid_request', message);
  const where = routeRequest(request);
  const target = route.target?.(where) ?? { from: 'body' as const };
  if ('error' in target) return refuseHijacked(ctx, res, provider, target.kind ?? 'invalid_request', target.error);
  const read = readBody(api, request.body, target.from === 'body');
  if ('error' in read) return refuse(read.error);
  const { client } = read;
  const model = target.from === 'path' ? target.model : modelOf(client);
  const streaming = target.from === 'path' ? target.streaming : client.body.stream === true;
  const maxOutput = api.maxOutput(client.body);
  // The first call's reservation, before anything is recorded: a refused request leaves no interception.
  const spending = ctx.budgets.spending(ex.principal.user, model, ctx.prices.price(provider.priceNames(model)));
  const refused = await spending?.reserve((request.body as Buffer).length, maxOutput);
  if (refused) {
    const { message, headers } = budgetRefusal(ctx, provider, ex.principal.user, refused);
    return refuseHijacked(ctx, res, provider, 'rate_limited', message, { headers, reason: 'budget' });
  }
  // Who annotate_work runs for, in-process (README "Work context"): this interception and its session.
  const caller: WorkCaller = { userId: ex.principal.user._id, sessionId: null, interceptionId: null };
  const observer = new InterceptionObserver(
    {
      metrics: ctx.metrics,
      recorder: ctx.recorder,
      sanitizer: sanitizerFor(ctx.config.recording),
      cost: (model, usage) => ctx.prices.cost(provider.priceNames(model), api.family, usage),
      spent: (usd) => spending?.settle(usd),
      clientCalled: (id) => ctx.work.recent.clientCalled(ex.principal.user._id, id, observer.id, caller.sessionId),
    },
    {
      provider: { name: provider.name, genAi: provider.kind.genAiName, origin: provider.origin },
      api: route.api,
      route: route.path,
      method: request.method,
      path: request.url.split('?')[0] as string,
      user: ex.principal.user,
      model,
      streaming,
      headers: request.headers,
    },
  );
  caller.interceptionId = observer.id;
  // Handed over, not kept here: the parsed body must be free to go once the first call is prepared.
  const held = { client: read.client as typeof client | undefined };
  await observer.run(async () => {
    const abort = abortOnClose(res);
    const pooled = (await ctx.mcp?.pool.acquire(ex.principal.user)) ?? NO_TOOLS;
    const acquired = ctx.config.annotations.inject
      ? withWorkTool(pooled, (args) => runWorkTool(ctx.work.annotator, caller, args))
      : pooled;
    const { max_iterations: maxIterations, parallelism, keepalive } = ctx.config.tool_loop;
    // With one upstream call allowed there is no loop to run tools in; some routes take no tools at
    // all. A client tool named like an injected one wins: that injected one is left out of this request.
    const tools =
      maxIterations > 1 && route.tools !== false
        ? clientToolsWin(acquired, clientToolNames((held.client as typeof client).body))
        : NO_TOOLS;
    const { prompt, sessionId, results, first } = understand(
      api,
      held.client as typeof client,
      request.bodyScan,
      tools.tools,
      streaming,
      request.headers,
    );
    held.client = undefined;
    caller.sessionId = sessionId;

    observer.started({
      record: {
        initiator_id: ex.principal.user._id,
        api_key_id: ex.principal.apiKeyId,
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
      toolResults: results,
    });
    ctx.work.recent.started(ex.principal.user._id, observer.id, sessionId);

    const upstreamPath = route.upstreamPath(where, model);
    let calls = 0;
    /** Every call after the first reserves its own cost (the first's was taken above). */
    const send = async (sent: Buffer | string) => {
      if (calls++ > 0) {
        const refusal = await spending?.reserve(Buffer.byteLength(sent), maxOutput);
        if (refusal) {
          const { message, headers } = budgetRefusal(ctx, provider, ex.principal.user, refusal);
          throw new BridgeError('rate_limited', message, headers);
        }
      }
      const reply = await callUpstream(provider, upstreamPath, request.headers, sent, abort.signal, model);
      spending?.answered(reply.statusCode === 200);
      return reply;
    };
    await runInterception({
      api,
      body: first.later,
      firstBody: first.body,
      streaming,
      bridge: tools,
      events: observer,
      channel: httpChannel(res, provider.kind.errors, provider.kind.clientStream?.(res)),
      decoder: provider.kind.decoder,
      send,
      signal: abort.signal,
      limits: { maxIterations, parallelism, keepAliveMs: parseDuration(keepalive) },
      clientWantsUsage: first.clientWantsUsage,
      toolsInjected: tools.tools.length > 0,
      log: { warn: (fields, message) => request.log.warn({ ...fields, interception_id: observer.id }, message) },
      requestId: request.id,
    }).finally(() => spending?.end());
  });
}
