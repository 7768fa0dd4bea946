import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { classifyClient, clientSessionId } from '../clients.ts';
import { parseDuration } from '../config/duration.ts';
import type { Principal } from '../identity/users.ts';
import type { InjectedTool, RequestBridge } from '../mcp/types.ts';
import { InterceptionTelemetry } from '../observability/interception.ts';
import { BridgeError, sendError, sendJson } from '../providers/errors.ts';
import { abortOnClose, clientResponseHeaders, type Provider, relayResponse } from '../providers/provider.ts';
import { sendUpstreamFailure } from '../providers/upstream-failure.ts';
import type { AppContext } from '../server/context.ts';
import { InterceptionLog } from './recording.ts';
import { SseParser } from './sse.ts';
import { runInjectedTools } from './tool-runner.ts';
import type { ApiModule, Json, StreamRelay, Turn } from './types.ts';
import { callUpstream, readSnippet, type UpstreamResponse } from './upstream.ts';

const NO_TOOLS: RequestBridge = {
  tools: [],
  find: () => undefined,
  call: async () => ({ content: [], isError: true, error: 'no tools', durationMs: 0 }),
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
function parseBody(ex: Exchange): Json | undefined {
  const raw = ex.request.body;
  let body: unknown;
  try {
    body = Buffer.isBuffer(raw) && raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch (err) {
    sendError(ex.res, ex.provider.type, 'invalid_request', `request body is not valid JSON: ${(err as Error).message}`);
    return undefined;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    sendError(ex.res, ex.provider.type, 'invalid_request', 'request body must be a JSON object');
    return undefined;
  }
  const problem = ex.api.validate(body as Json);
  if (problem) {
    sendError(ex.res, ex.provider.type, 'invalid_request', problem);
    return undefined;
  }
  return body as Json;
}

/**
 * One interception: record it, inject MCP tools, call the upstream, run the injected tool
 * calls the model makes and call again, until the model is done; the client sees one response.
 */
export async function intercept(ex: Exchange): Promise<void> {
  const body = parseBody(ex);
  if (!body) return;
  const tel = new InterceptionTelemetry(ex.ctx.metrics, {
    provider: ex.provider,
    route: ex.api.path,
    method: ex.request.method,
    path: ex.request.url.split('?')[0] as string,
    user: ex.principal.user,
    model: String(body.model),
    streaming: body.stream === true,
    headers: ex.request.headers,
  });
  await tel.run(() => interceptParsed(ex, body, tel));
}

async function interceptParsed(ex: Exchange, body: Json, tel: InterceptionTelemetry): Promise<void> {
  const { ctx, provider, api, principal, request, res } = ex;
  const abort = abortOnClose(res);
  const bridge = (await ctx.mcp?.pool.acquire(principal.user._id)) ?? NO_TOOLS;
  const creating = tel.span('Intercept.CreateInterceptor');
  const maxIterations = ctx.config.tool_loop.max_iterations;
  const tools: readonly InjectedTool[] = maxIterations > 1 ? bridge.tools : [];
  const injected = new Set(tools.map((t) => t.name));
  const isInjected = (name: string) => injected.has(name);
  const streaming = body.stream === true;

  const log = new InterceptionLog(tel, ctx.recorder, {
    initiator_id: principal.user._id,
    api_key_id: principal.apiKeyId,
    provider: provider.type,
    provider_name: provider.name,
    model: String(body.model),
    client: classifyClient(request.headers),
    user_agent: request.headers['user-agent'] ?? null,
    client_session_id: clientSessionId(request.headers, body),
    started_at: new Date(),
    metadata: {},
  });

  let modified = false;
  if (tools.length) {
    api.inject(body, tools);
    modified = true;
  }
  let clientWantsUsage = true;
  if (streaming) {
    const prepared = api.prepareStreaming(body);
    clientWantsUsage = prepared.clientWantsUsage;
    modified ||= !clientWantsUsage;
  }
  const rawBody = request.body as Buffer;
  creating?.end();

  const prompt = api.prompt(body);
  const metadata: Record<string, unknown> = {};
  let status: 'completed' | 'failed' = 'failed';
  try {
    const loop = {
      ex,
      body,
      bridge,
      log,
      isInjected,
      abort,
      prompt,
      metadata,
      maxIterations,
      clientWantsUsage,
      toolsInjected: tools.length > 0,
      tel,
      // Untouched bodies go upstream as the client's bytes; later calls carry the grown conversation.
      firstBody: modified ? JSON.stringify(body) : rawBody,
    };
    status = await tel.processRequest(() => (streaming ? streamLoop(loop) : blockingLoop(loop)));
  } catch (err) {
    if (abort.signal.aborted) {
      metadata.error = 'client disconnected';
    } else if (err instanceof BridgeError) {
      metadata.error = err.message;
      sendError(res, provider.type, err.kind, err.message, err.headers);
    } else {
      metadata.error = (err as Error).message;
      sendUpstreamFailure(res, provider.type, err, request, { interception_id: log.id });
    }
  } finally {
    if (!res.writableEnded) res.end();
    log.prompt(prompt, null);
    log.ended(status, Object.keys(metadata).length ? metadata : undefined);
  }
}

interface Loop {
  ex: Exchange;
  body: Json;
  bridge: RequestBridge;
  log: InterceptionLog;
  isInjected: (name: string) => boolean;
  abort: AbortController;
  prompt: string | null;
  metadata: Record<string, unknown>;
  maxIterations: number;
  clientWantsUsage: boolean;
  toolsInjected: boolean;
  tel: InterceptionTelemetry;
  firstBody: Buffer | string;
}

/** Records a turn; returns the injected calls to run, or undefined when the loop ends here. */
function settleTurn(loop: Loop, turn: Turn, iteration: number) {
  const { log, ex, isInjected } = loop;
  log.prompt(loop.prompt, turn.responseId);
  if (turn.usage) log.tokens(turn.usage, turn.responseId);
  for (const thought of turn.thoughts) log.thought(thought, ex.api.thoughtSource);
  const injectedCalls = turn.toolCalls.filter((c) => isInjected(c.name));
  const clientCalls = turn.toolCalls.filter((c) => !isInjected(c.name));
  for (const call of clientCalls)
    log.tool(call, turn.responseId, { tool: call.name, serverUrl: null, injected: false, error: null });
  if (!injectedCalls.length) return undefined;
  if (clientCalls.length || iteration + 1 >= loop.maxIterations) {
    // The client cannot answer these, so they are dropped from its view; the record says so.
    for (const call of injectedCalls) {
      const tool = loop.bridge.find(call.name);
      log.tool(call, turn.responseId, {
        tool: tool?.rawName ?? call.name,
        serverUrl: tool?.serverUrl ?? null,
        injected: true,
        error: 'not run: the tool loop ended in this turn',
      });
    }
    if (iteration + 1 >= loop.maxIterations) loop.metadata.capped = true;
    return undefined;
  }
  return injectedCalls;
}

/** Runs the calls and appends them and their results; the last allowed call gets tools turned off. */
async function continueLoop(loop: Loop, turn: Turn, calls: Turn['toolCalls'], iteration: number): Promise<void> {
  const exchanges = await runInjectedTools(loop.bridge, calls, loop.log, loop.tel, turn.responseId, loop.abort.signal);
  loop.ex.api.appendToolResults(loop.body, turn, exchanges);
  if (iteration + 2 >= loop.maxIterations) {
    loop.ex.api.disableTools(loop.body);
    loop.metadata.capped = true;
  }
}

/** One upstream call of the loop, traced; a non-200 answer is noted on the interception. */
async function callModel(loop: Loop, iteration: number): Promise<UpstreamResponse> {
  const { ex } = loop;
  const body = iteration ? JSON.stringify(loop.body) : loop.firstBody;
  const upstream = await loop.tel.upstream(() =>
    callUpstream(ex.provider, upstreamPathOf(ex), ex.request.headers, body, loop.abort.signal, String(loop.body.model)),
  );
  if (upstream.statusCode !== 200) {
    loop.metadata.upstream_status = upstream.statusCode;
    loop.tel.upstreamDone(null, `upstream answered ${upstream.statusCode}`);
  }
  return upstream;
}

async function blockingLoop(loop: Loop): Promise<'completed' | 'failed'> {
  const { ex } = loop;
  const responses: Json[] = [];
  const turns: Turn[] = [];
  let lastRaw = '';
  let lastHeaders: UpstreamResponse['headers'] = {};
  for (let iteration = 0; ; iteration++) {
    const upstream = await callModel(loop, iteration);
    if (upstream.statusCode !== 200) {
      await relayResponse(ex.res, upstream);
      return 'failed';
    }
    lastRaw = await upstream.body.text();
    lastHeaders = upstream.headers;
    let json: Json;
    try {
      json = JSON.parse(lastRaw) as Json;
    } catch {
      sendError(ex.res, ex.provider.type, 'upstream', 'upstream returned a body that is not JSON');
      return 'failed';
    }
    const turn = ex.api.parseResponse(json);
    loop.tel.upstreamDone(turn.usage);
    responses.push(json);
    turns.push(turn);
    const calls = settleTurn(loop, turn, iteration);
    if (!calls) break;
    await continueLoop(loop, turn, calls, iteration);
  }
  loop.metadata.iterations = turns.length;
  const hidden = turns[0]?.toolCalls.some((c) => loop.isInjected(c.name)) || (ex.api.echoesTools && loop.toolsInjected);
  if (turns.length === 1 && !hidden) {
    ex.res.writeHead(200, clientResponseHeaders(lastHeaders));
    ex.res.end(lastRaw); // nothing to hide: the provider's bytes, untouched
  } else {
    sendJson(
      ex.res,
      200,
      ex.api.mergeResponses(responses, turns, loop.isInjected),
      clientResponseHeaders(lastHeaders, { dropLength: true }),
    );
  }
  return 'completed';
}

/** Reads one upstream stream into the relay; undefined when it broke or reported an error. */
async function pump(upstream: UpstreamResponse, relay: StreamRelay, signal: AbortSignal): Promise<Turn | undefined> {
  const parser = new SseParser();
  try {
    for await (const chunk of upstream.body) {
      for (const event of parser.push(chunk as Buffer)) relay.onEvent(event);
      if (relay.upstreamError) return undefined;
    }
  } catch (err) {
    if (signal.aborted) throw err; // the client left; nothing to tell it
    relay.fail('upstream', `upstream stream broke: ${(err as Error).message}`);
    return undefined;
  }
  const turn = relay.endTurn();
  if (!turn) relay.fail('upstream', 'upstream stream ended before the response was complete');
  return turn;
}

async function streamLoop(loop: Loop): Promise<'completed' | 'failed'> {
  const { ex, abort } = loop;
  const res = ex.res;
  let lastWrite = Date.now();
  const sink = {
    write(text: string) {
      lastWrite = Date.now();
      res.write(text);
    },
  };
  const relay = ex.api.createRelay(sink, { isInjected: loop.isInjected, clientWantsUsage: loop.clientWantsUsage });
  const keepAliveMs = parseDuration(ex.ctx.config.tool_loop.keepalive);
  const keepAlive = setInterval(
    () => {
      if (Date.now() - lastWrite >= keepAliveMs) relay.keepAlive();
    },
    Math.max(50, Math.min(1_000, keepAliveMs / 2)),
  );
  try {
    for (let iteration = 0; ; iteration++) {
      const upstream = await callModel(loop, iteration);
      if (upstream.statusCode !== 200) {
        if (iteration === 0) {
          await relayResponse(res, upstream);
        } else {
          relay.fail('upstream', `upstream answered ${upstream.statusCode}: ${await readSnippet(upstream)}`);
        }
        return 'failed';
      }
      if (iteration === 0) {
        res.writeHead(200, clientResponseHeaders(upstream.headers, { dropLength: true }));
        res.flushHeaders();
      }
      const turn = await pump(upstream, relay, abort.signal);
      loop.tel.upstreamDone(turn?.usage ?? null, turn ? undefined : (relay.upstreamError ?? 'stream broke'));
      if (!turn) {
        if (relay.upstreamError) loop.metadata.error = relay.upstreamError;
        return 'failed';
      }
      const calls = settleTurn(loop, turn, iteration);
      if (!calls) {
        loop.metadata.iterations = iteration + 1;
        relay.finish();
        return 'completed';
      }
      await continueLoop(loop, turn, calls, iteration);
      relay.nextTurn();
    }
  } finally {
    clearInterval(keepAlive);
  }
}
