import type { IncomingHttpHeaders } from 'node:http';
import { classifyClient } from '../clients.ts';
import { parseDuration } from '../duration.ts';
import type { Principal } from '../identity/users.ts';
import type { ClientBody } from '../intercept/client-body.ts';
import type { ClientChannel } from '../intercept/client-channel.ts';
import { runInterception } from '../intercept/interception.ts';
import { InterceptionObserver } from '../intercept/observer.ts';
import { modelOf, readBody, understand } from '../intercept/request.ts';
import { clientToolNames } from '../intercept/tool-format.ts';
import type { ApiModule } from '../intercept/types.ts';
import type { JsonScan } from '../limits/json-scan.ts';
import { clientToolsWin } from '../mcp/client-wins.ts';
import { errorResult } from '../mcp/tool-result.ts';
import type { RequestBridge } from '../mcp/types.ts';
import type { CostHints } from '../pricing/estimate.ts';
import { BridgeError, type BridgeErrorKind } from '../providers/errors.ts';
import type { BridgedRoute, RouteRequest, Target } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { sanitizerFor } from '../recorder/sanitize.ts';
import { runWorkTool, type WorkCaller } from '../work-context/annotate.ts';
import { withWorkTool } from '../work-context/inject.ts';
import { budgetRefusal } from './budget-refusal.ts';
import type { AppContext } from './context.ts';
import { countRefusal, type RefusalOptions } from './refuse.ts';
import { planRoute, priceOf, RoutedSender } from './routing.ts';

/** No MCP tools: nothing injected, nothing claimed. */
const NO_TOOLS: RequestBridge = {
  tools: [],
  claim: () => undefined,
  call: async () => ({ ...errorResult('no tools'), durationMs: 0 }),
};

/**
 * What the wiring reads of a request: a fastify request is one; a message on a Responses
 * WebSocket is made into one (server/responses-socket), headers from its upgrade.
 */
export interface BridgedRequest {
  /** Named in error messages to the client; logged with the details. */
  id: string;
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  params: unknown;
  headers: IncomingHttpHeaders;
  /** The raw JSON body. */
  body: unknown;
  /** Where the body's top-level members lie, when already found (server/body.ts). */
  bodyScan: JsonScan | undefined;
  log: {
    warn(fields: Record<string, unknown>, message: string): void;
    error(fields: Record<string, unknown>, message: string): void;
  };
}

/** One bridged request, as the route hands it over. */
export interface BridgedExchange {
  ctx: AppContext;
  provider: Provider;
  route: BridgedRoute;
  api: ApiModule;
  principal: Principal;
  /** The caller's own key for `provider`, as authentication read it (README "Bring your own key"). */
  ownKey: string | undefined;
  request: BridgedRequest;
  /** Where the answer goes: the HTTP response, or a WebSocket's frames. */
  channel: ClientChannel;
  /** Fires when the client goes away. */
  signal: AbortSignal;
  /** Added to the interception's metadata (how the request arrived). */
  metadata?: Record<string, unknown>;
}

/** The route's view of the request: its path parameters and query string. */
export function routeRequest(request: Pick<BridgedRequest, 'params' | 'url'>): RouteRequest {
  const query = request.url.indexOf('?');
  return { params: request.params as Record<string, string>, query: query < 0 ? '' : request.url.slice(query) };
}

/**
 * Reads the body, and what the wiring needs of it before the first call. The parsed body is only
 * in `held`, never in a local of bridge(): a suspended async function keeps its locals (dead or
 * not) for as long as it waits, here the whole stream, and a coding agent's parsed conversation
 * is a few hundred KB per request in flight. bridge() lets go of it once the first call is prepared.
 */
function firstLook(
  api: ApiModule,
  raw: unknown,
  target: Exclude<Target, { error: string }>,
):
  | { error: string }
  | { held: { client: ClientBody | undefined }; model: string; streaming: boolean; costHints: CostHints } {
  const read = readBody(api, raw, target.from === 'body');
  if ('error' in read) return read;
  const { client } = read;
  return {
    held: { client },
    model: target.from === 'path' ? target.model : modelOf(client),
    streaming:
      target.from === 'path' && target.streaming !== undefined ? target.streaming : client.body.stream === true,
    costHints: api.costHints(client.body),
  };
}

/**
 * Wires one interception (src/intercept runs it): reads the body, builds its observer (records,
 * metrics, spans), acquires the user's MCP tools, and hands the engine everything it works with.
 * Refusals answer in the provider's format.
 */
export async function bridge(ex: BridgedExchange): Promise<void> {
  const { ctx, provider, route, api, request, channel } = ex;
  /** A refusal, counted, in the channel's error shape (the provider's format over HTTP). */
  const refuse = (kind: BridgeErrorKind, message: string, options: RefusalOptions = {}) => {
    countRefusal(ctx, provider, kind, options.reason);
    channel.error(kind, message, options.headers);
  };
  const where = routeRequest(request);
  const target = route.target?.(where) ?? { from: 'body' as const };
  if ('error' in target) return refuse(target.kind ?? 'invalid_request', target.error);
  const look = firstLook(api, request.body, target);
  if ('error' in look) return refuse('invalid_request', look.error);
  const { held, model, streaming, costHints } = look;
  const user = ex.principal.user;
  // Where it may go: an alias's targets, or this provider; each with the user's own key where it takes one.
  const plan = await planRoute(ctx, provider, route, model, user, streaming, ex.ownKey);
  const first = plan.targets[plan.first];
  if (!first) {
    const why = plan.targets.map((t) => t.unusable).join('; ');
    return refuse('not_configured', `no provider can serve model ${model}: ${why}`);
  }
  // Who annotate_work runs for, in-process (README "Work context"): this interception and its session.
  const caller: WorkCaller = { userId: ex.principal.user._id, sessionId: null, interceptionId: null };
  // The first call's reservation, before anything is recorded: a refused request leaves no interception.
  const spending = await ctx.budgets.spending(user, first.model, priceOf(ctx.prices, first));
  const reserve = async (bytes: number, hints = costHints) => {
    const refusal = await spending?.reserve(bytes, hints);
    if (!refusal) return;
    const { message, headers } = budgetRefusal(ctx, provider, user, refusal);
    throw new BridgeError('rate_limited', message, headers);
  };
  try {
    if (first.budgeted) await reserve((request.body as Buffer).length);
  } catch (err) {
    const { kind, message, headers } = err as BridgeError;
    return refuse(kind, message, { headers, reason: 'budget' });
  }
  let sender: RoutedSender | undefined;
  const observer = new InterceptionObserver(
    {
      metrics: ctx.metrics,
      recorder: ctx.recorder,
      sanitizer: sanitizerFor(ctx.config.recording),
      // Priced as the target that answered: an alias's targets may be other models, at other prices.
      cost: (_model, usage) => {
        const answered = sender?.current ?? first;
        return ctx.prices.cost(answered.provider.priceNames(answered.model), api.family, usage);
      },
      spent: (usd) => {
        if ((sender?.current ?? first).budgeted) spending?.settle(usd);
      },
      clientCalled: (id) => ctx.work.recent.clientCalled(user._id, id, observer.id, caller.sessionId),
    },
    {
      provider: { name: provider.name, genAi: provider.kind.genAiName, origin: first.provider.origin },
      api: route.api,
      route: route.path,
      method: request.method,
      path: request.url.split('?')[0] as string,
      user,
      model,
      streaming,
      headers: request.headers,
    },
  );
  caller.interceptionId = observer.id;
  // However it ends (the tools not acquired in a store outage, a refused body, the loop done), the reservation ends.
  const intercepted = observer.run(async () => {
    const pooled = (await ctx.mcp?.pool.acquire(user)) ?? NO_TOOLS;
    const acquired = ctx.config.annotations.inject
      ? withWorkTool(pooled, (args) => runWorkTool(ctx.work.annotator, caller, args))
      : pooled;
    const { max_iterations: maxIterations, parallelism, keepalive } = ctx.config.tool_loop;
    // With one upstream call allowed there is no loop to run tools in; some routes take no tools at
    // all. A client tool named like an injected one wins: that injected one is left out of this request.
    const tools =
      maxIterations > 1 && route.tools !== false
        ? clientToolsWin(acquired, clientToolNames((held.client as ClientBody).body))
        : NO_TOOLS;
    const {
      prompt,
      sessionId,
      results,
      first: firstCall,
    } = understand(api, held.client as ClientBody, request.bodyScan, tools.tools, streaming, request.headers);
    held.client = undefined;
    caller.sessionId = sessionId;

    sender = new RoutedSender({
      ctx,
      plan,
      provider,
      route,
      where,
      api,
      model,
      modelInBody: target.from === 'body',
      streaming,
      headers: request.headers,
      signal: ex.signal,
      spending,
      reserve,
      routed: (fields) => {
        if (plan.recorded) observer.routed(fields);
      },
      log: request.log,
      requestId: request.id,
    });
    const routed = plan.recorded ? sender.fields() : undefined;
    observer.started({
      record: {
        initiator_id: user._id,
        api_key_id: ex.principal.apiKeyId,
        provider: first.provider.type,
        provider_name: first.provider.name,
        model: first.model,
        client: classifyClient(request.headers),
        user_agent: request.headers['user-agent'] ?? null,
        client_session_id: sessionId,
        started_at: new Date(),
        metadata: { ...ex.metadata },
        ...(routed && {
          requested_model: routed.requested_model,
          attempts: [],
          key_source: routed.key_source,
        }),
      },
      prompt,
      thoughtSource: api.thoughtSource,
      toolResults: results,
    });
    if (routed) observer.routed(routed);
    ctx.work.recent.started(user._id, observer.id, sessionId);

    await runInterception({
      api,
      body: firstCall.later,
      firstBody: firstCall.body,
      streaming,
      bridge: tools,
      events: observer,
      channel,
      decoder: provider.kind.decoder,
      send: sender.send,
      signal: ex.signal,
      limits: { maxIterations, parallelism, keepAliveMs: parseDuration(keepalive) },
      clientWantsUsage: firstCall.clientWantsUsage,
      toolsInjected: tools.tools.length > 0,
      log: { warn: (fields, message) => request.log.warn({ ...fields, interception_id: observer.id }, message) },
      requestId: request.id,
    });
  });
  await intercepted.finally(() => spending?.end());
}
