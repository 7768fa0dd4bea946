import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { Principal } from '../identity/users.ts';
import { API_MODULES } from '../intercept/apis.ts';
import { httpChannel } from '../intercept/client-channel.ts';
import { sendError, sendJson } from '../providers/errors.ts';
import { abortOnClose, clientResponseHeaders, relayResponse } from '../providers/headers.ts';
import type { PassthroughRoute } from '../providers/kind.ts';
import type { Provider } from '../providers/provider.ts';
import { credentialsRefusal, sendUpstreamFailure } from '../providers/upstream-failure.ts';
import { admitted, type Refuser, withinUserRate } from './admission.ts';
import { bridge, routeRequest } from './bridged.ts';
import type { AppContext } from './context.ts';
import { aliasModel, MAX_MODEL_LIST_BYTES, withAliases } from './model-list.ts';
import { authenticateProvider } from './provider-auth.ts';
import { proxyClientOf, proxyMetadataOf } from './proxy-client.ts';
import { refuse, refuseHijacked } from './refuse.ts';
import { responsesSockets } from './responses-socket/upgrade.ts';
import { ROUTE_ROOTS } from './route-roots.ts';
import { aliasesFor } from './routing.ts';
import { pinned } from './runtime.ts';

/**
 * Runs as the route's onRequest hook, before fastify reads the body: an unauthenticated
 * request costs its headers only. Refusals answer in the provider's format. A request from an
 * intercepted proxy session is the proxy user's, whatever credential it carries itself (its
 * own provider key, or a dummy one: removed like any client credential).
 */
function guard(ctx: AppContext, provider: Provider) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (Object.values(request.params as Record<string, string>).some((v) => v === '')) {
      return refuse(ctx, reply, provider, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`);
    }
    const auth = await authenticateProvider(ctx, provider, request.headers, request.log, proxyClientOf(request.raw));
    if ('refusal' in auth) {
      const { kind, message, options } = auth.refusal;
      return refuse(ctx, reply, provider, kind, message, options);
    }
    request.principal = auth.principal;
    request.providerKey = auth.ownKey;
  };
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
    const ownKey = request.providerKey;
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
    for (const root of ROUTE_ROOTS) {
      const prefix = `${root}/${provider.name}`;
      // Claude Code probes reachability with HEAD (e.g. `/api/hello`) before anything else: answer fast, no auth.
      app.head(prefix, (_request, reply) => reply.code(200).send());
      app.head(`${prefix}/*`, (_request, reply) => reply.code(200).send());

      for (const route of kind.bridged) {
        const api = API_MODULES[route.api];
        // Each request runs on the config, provider and MCP tools current at its start, whatever a reload does meanwhile.
        app.post(`${prefix}${route.path}`, { onRequest }, (request, reply) =>
          pinned(ctx, provider.name, async (ctx, provider) => {
            reply.hijack();
            const res = reply.raw;
            const principal = request.principal as Principal;
            const refused: Refuser = (kind, message, options) =>
              refuseHijacked(ctx, res, provider, kind, message, options);
            await admitted(ctx, principal, refused, async () => {
              const channel = httpChannel(res, provider.kind.errors, provider.kind.clientStream?.(res));
              const { signal } = abortOnClose(res);
              try {
                const metadata = proxyMetadataOf(request.raw);
                await bridge({
                  ctx,
                  provider,
                  route,
                  api,
                  principal,
                  ownKey: request.providerKey,
                  request,
                  channel,
                  signal,
                  metadata,
                });
              } catch (err) {
                // A bug must not leave the client hanging or show it internals.
                request.log.error({ err }, 'interception failed');
                sendError(res, provider.kind.errors, 'internal', `internal error (request id ${request.id})`);
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
              const refused: Refuser = (kind, message, options) =>
                refuseHijacked(ctx, reply.raw, provider, kind, message, options);
              if (!(await withinUserRate(ctx, request.principal as Principal, refused))) return;
              return passthrough(ctx, provider, route, prefix, request, reply);
            }),
        });
      }
    }
  }
  // Codex tries a WebSocket on /P/v1/responses first: served like the HTTP route; other upgrades refused.
  responsesSockets(app, ctx);
}
