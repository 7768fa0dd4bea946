import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { tokenFrom } from '../identity/authenticator.ts';
import type { Principal } from '../identity/users.ts';
import { chatCompletionsApi } from '../intercept/chat-completions/index.ts';
import { messagesApi } from '../intercept/messages/index.ts';
import { responsesApi } from '../intercept/responses/index.ts';
import type { ApiModule } from '../intercept/types.ts';
import { openaiErrors, sendError, sendJson } from '../providers/errors.ts';
import { abortOnClose, clientResponseHeaders, relayResponse } from '../providers/headers.ts';
import type { ApiName, PassthroughRoute } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { credentialsRefusal, sendUpstreamFailure } from '../providers/upstream-failure.ts';
import { bridge, routeRequest } from './bridged.ts';
import type { AppContext } from './context.ts';
import { aliasModel, MAX_MODEL_LIST_BYTES, withAliases } from './model-list.ts';
import { refuse, refuseHijacked } from './refuse.ts';
import { aliasesFor } from './routing.ts';
import { pinned } from './runtime.ts';

/** Route roots: the bare one, and those of clients set up for Coder's AI Bridge or its 2026 name, AI Gateway (README "Pointing clients at the bridge"). */
const ROOTS = ['', '/api/v2/aibridge', '/api/v2/ai-gateway'];

/** The API modules (src/intercept) the kinds' bridged routes name. */
const APIS: Record<ApiName, ApiModule> = {
  chat: chatCompletionsApi,
  responses: responsesApi,
  messages: messagesApi,
};
/**
 * Runs as the route's onRequest hook, before fastify reads the body: an unauthenticated
 * request costs its headers only. Refusals answer in the provider's format.
 */
function guard(ctx: AppContext, provider: Provider) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (Object.values(request.params as Record<string, string>).some((v) => v === '')) {
      return refuse(ctx, reply, provider, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`);
    }
    const token = tokenFrom(request.headers, provider.kind.tokenHeaders);
    if (!token) {
      return refuse(
        ctx,
        reply,
        provider,
        'authentication',
        'missing credentials: send your AI Bridge token as a Bearer token or X-Api-Key',
      );
    }
    let principal: Principal | null;
    try {
      principal = await ctx.authenticator.authenticate(token);
    } catch (err) {
      request.log.error({ err: (err as Error).message }, 'token lookup failed');
      return refuse(ctx, reply, provider, 'overloaded', 'authentication is temporarily unavailable', {
        headers: { 'retry-after': '5' },
        reason: 'auth_unavailable',
      });
    }
    if (!principal) return refuse(ctx, reply, provider, 'authentication', 'invalid or expired AI Bridge token');
    const current = ctx.providers.find((p) => p.name === provider.name) ?? provider; // a reload may have replaced it
    const ownKey = current.byok === 'off' ? undefined : await ownKeyOf(ctx, principal, current, request);
    if (ownKey === null) {
      return refuse(
        ctx,
        reply,
        provider,
        'overloaded',
        'your own provider key cannot be read right now; retry shortly',
        {
          headers: { 'retry-after': '5' },
          reason: 'auth_unavailable',
        },
      );
    }
    if (!ownKey && current.byok === 'required') {
      return refuse(
        ctx,
        reply,
        provider,
        'permission',
        `provider "${provider.name}" takes only your own key: store it in the console (Me, My provider keys) or with PUT /api/v2/aibridge/users/me/provider-keys/${provider.name}`,
      );
    }
    if (!current.hasKey && !ownKey) {
      return refuse(
        ctx,
        reply,
        provider,
        'not_configured',
        `provider "${provider.name}" has no api_key configured (${current.keySetting}); ask the bridge's operator`,
      );
    }
    request.principal = principal;
  };
}

/** The caller's own key for a provider that takes users' keys; null when the store could not say. */
async function ownKeyOf(
  ctx: AppContext,
  principal: Principal,
  provider: Provider,
  request: FastifyRequest,
): Promise<string | undefined | null> {
  try {
    return await ctx.userKeys.key(principal.user._id, provider.name);
  } catch (err) {
    request.log.error({ err: (err as Error).message }, "looking up a user's own provider key failed");
    return null;
  }
}

/** Per-user rate and global concurrency limits; on refusal answers in the provider's format. */
async function admit(ctx: AppContext, provider: Provider, principal: Principal, reply: FastifyReply): Promise<boolean> {
  const wait = await ctx.limits.userRate.take(principal.user._id);
  if (wait) {
    refuseHijacked(
      ctx,
      reply.raw,
      provider,
      'rate_limited',
      `rate limit reached for ${principal.user.username}; retry in ${wait}s`,
      { headers: { 'retry-after': String(wait) } },
    );
    return false;
  }
  if (!ctx.limits.concurrency.tryAcquire()) {
    refuseHijacked(ctx, reply.raw, provider, 'overloaded', 'the bridge is at its concurrency limit; retry shortly', {
      headers: { 'retry-after': '1' },
    });
    return false;
  }
  return true;
}

/**
 * While the journal cannot be written (disk full, I/O error), records wait in memory only: with
 * `recording.on_failure: refuse` a new request gets 503 in the provider's format naming the
 * cause; with `serve` it goes on (README "Reliability").
 */
function recordable(ctx: AppContext, provider: Provider, reply: FastifyReply): boolean {
  const failure = ctx.recorder.failure();
  if (failure?.where !== 'journal' || ctx.config.recording.on_failure === 'serve') return true;
  refuseHijacked(
    ctx,
    reply.raw,
    provider,
    'overloaded',
    `AI Bridge cannot record requests right now (its journal cannot be written: ${failure.cause}); retry later`,
    { headers: { 'retry-after': '10' }, reason: 'unrecordable' },
  );
  return false;
}

/** Runs a model request once recording, the user's rate and the bridge's concurrency let it; else it was refused. Budgets are reserved per upstream call (bridged.ts). */
async function admitted(
  ctx: AppContext,
  provider: Provider,
  principal: Principal,
  reply: FastifyReply,
  run: () => Promise<void>,
): Promise<void> {
  if (!recordable(ctx, provider, reply)) return;
  if (!(await admit(ctx, provider, principal, reply))) return;
  try {
    await run();
  } finally {
    ctx.limits.concurrency.release();
  }
}

/** A models list with the provider's aliases added (README "Aliases and fallbacks"); one too large to read is relayed as it is. */
async function relayWithAliases(
  reply: FastifyReply,
  upstream: Dispatcher.ResponseData,
  provider: Provider,
  aliases: string[],
): Promise<void> {
  const length = Number(upstream.headers['content-length'] ?? 0);
  if (length > MAX_MODEL_LIST_BYTES) return relayResponse(reply.raw, upstream);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_MODEL_LIST_BYTES) throw new Error('the upstream models list is too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const merged = withAliases(provider.kind.family, text, aliases) ?? text;
  const headers = clientResponseHeaders(upstream.headers, { dropLength: true });
  reply.raw.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(merged) });
  reply.raw.end(merged);
}

/** Forwards a request the bridge does not rewrite; the answer reaches the client byte for byte. */
async function passthrough(
  ctx: AppContext,
  provider: Provider,
  route: PassthroughRoute,
  prefix: string,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const abort = abortOnClose(reply.raw);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && Buffer.isBuffer(request.body);
  const clientPath = request.url.slice(prefix.length);
  const path = route.upstreamPath ? route.upstreamPath(routeRequest(request), clientPath) : clientPath;
  const call = {
    method: request.method,
    path: provider.upstreamPath(path),
    headers: provider.upstreamHeaders(request.headers),
    body: hasBody ? (request.body as Buffer) : undefined,
  };
  try {
    // A user's own key where the provider takes one and they stored it (README "Bring your own key").
    const principal = request.principal;
    const ownKey =
      principal && provider.byok !== 'off' ? await ctx.userKeys.key(principal.user._id, provider.name) : undefined;
    const signing = provider.authorize(call, ownKey);
    if (signing) await signing;
    const upstream = await provider.dispatcher.request({
      ...call,
      origin: provider.origin,
      method: request.method as 'GET',
      signal: abort.signal,
    });
    const refusal = ownKey === undefined ? await credentialsRefusal(provider, upstream) : undefined;
    if (refusal) throw refusal;
    const aliases = route.models === 'list' ? aliasesFor(ctx, provider) : [];
    if (aliases.length && upstream.statusCode === 200)
      return await relayWithAliases(reply, upstream, provider, aliases);
    await relayResponse(reply.raw, upstream);
  } catch (err) {
    if (abort.signal.aborted) return;
    sendUpstreamFailure(reply.raw, provider.kind.errors, err, request);
  }
}

export function providerRoutes(app: FastifyInstance, ctx: AppContext): void {
  for (const provider of ctx.providers) {
    const onRequest = guard(ctx, provider);
    const { kind } = provider;
    for (const root of ROOTS) {
      const prefix = `${root}/${provider.name}`;
      // Claude Code probes reachability with HEAD (e.g. `/api/hello`) before anything else: answer fast, no auth.
      app.head(prefix, (_request, reply) => reply.code(200).send());
      app.head(`${prefix}/*`, (_request, reply) => reply.code(200).send());

      for (const route of kind.bridged) {
        const api = APIS[route.api];
        // Each request runs on the config, provider and MCP tools current at its start, whatever a reload does meanwhile.
        app.post(`${prefix}${route.path}`, { onRequest }, (request, reply) =>
          pinned(ctx, provider.name, async (ctx, provider) => {
            reply.hijack();
            const principal = request.principal as Principal;
            await admitted(ctx, provider, principal, reply, async () => {
              try {
                await bridge({ ctx, provider, route, api, principal, request, res: reply.raw });
              } catch (err) {
                // A bug must not leave the client hanging or show it internals.
                request.log.error({ err }, 'interception failed');
                sendError(reply.raw, provider.kind.errors, 'internal', `internal error (request id ${request.id})`);
              }
            });
          }),
        );
      }
      for (const route of kind.passthrough) {
        const { anonymous } = route;
        app.route({
          method: route.methods as ['GET'],
          url: `${prefix}${route.path}`,
          // A client's probe before it has a token: answered here, nothing of the upstream's in it.
          onRequest: anonymous ? undefined : onRequest,
          handler: (request, reply) =>
            pinned(ctx, provider.name, async (ctx, provider) => {
              reply.hijack();
              ctx.metrics.passthrough.labels(provider.name, route.path, request.method).inc(); // the template, not the raw path
              if (anonymous) {
                const answer = anonymous(routeRequest(request));
                return sendJson(reply.raw, answer.status, answer.body);
              }
              // One of the provider's aliases is the bridge's to describe: the upstream does not know it.
              const id = (request.params as { id?: string }).id;
              if (route.models === 'one' && id && aliasesFor(ctx, provider).includes(id)) {
                return sendJson(reply.raw, 200, aliasModel(provider.kind.family, id));
              }
              return passthrough(ctx, provider, route, prefix, request, reply);
            }),
        });
      }
    }
  }
  // Codex may try a WebSocket on /v1/responses first. 426 makes it fall back to HTTP after one
  // attempt; a 404 costs several retries and a 400 makes it give up.
  app.server.on('upgrade', (request, socket) => {
    const body = JSON.stringify(
      openaiErrors.body('invalid_request', `WebSocket is not supported on ${request.url}; use HTTP`),
    );
    socket.end(
      `HTTP/1.1 426 Upgrade Required\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
