import { createServer, type IncomingMessage } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { parseDuration } from '../duration.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import { registerApi } from './api/index.ts';
import { rawBodyParser, tooLargeMessage } from './body.ts';
import { clientErrorHandler } from './client-errors.ts';
import type { AppContext } from './context.ts';
import { decorateRequests } from './decorations.ts';
import { frontDoor, requestIdOf } from './front-door.ts';
import { lazyChildLogger } from './lazy-logger.ts';
import { countRefusal, errorFor, errorHeaders, providerOf, refuse } from './refuse.ts';
import { ROUTES, type RouteRegistrar } from './routes.ts';

const KIND_BY_STATUS: Record<number, BridgeErrorKind> = {
  400: 'invalid_request',
  404: 'not_found',
  408: 'request_timeout',
  413: 'too_large',
  415: 'invalid_request',
};

/** The longest path segment the router matches (fastify's default is 100: too short for some ids). */
const MAX_PARAM_LENGTH = 512;

const notFoundMessage = (request: FastifyRequest) => `no route for ${request.method} ${request.url.split('?')[0]}`;

const isWebSocketUpgrade = (upgrade: string | undefined) =>
  !!upgrade && upgrade.split(',').some((protocol) => protocol.trim().toLowerCase() === 'websocket');

/**
 * Node's own limits, set on the server itself (fastify does not apply its timeout options to a
 * server from serverFactory): the body must arrive within limits.body_timeout of the request's
 * start, checked every quarter of it; once it has, the response may last as long as it needs.
 */
function serverOptions(ctx: AppContext) {
  const bodyTimeout = parseDuration(ctx.config.limits.body_timeout);
  return {
    maxHeaderSize: ctx.config.limits.max_header_bytes,
    requestTimeout: bodyTimeout,
    headersTimeout: bodyTimeout ? Math.min(60_000, bodyTimeout) : 60_000,
    connectionsCheckingInterval: bodyTimeout ? Math.max(100, Math.min(5_000, bodyTimeout / 4)) : 30_000,
    // Only a WebSocket upgrade is one: Java's HttpClient and `curl --http2` ask every request to
    // become h2c, and a server may ignore that and answer in HTTP/1.1.
    shouldUpgradeCallback: (req: IncomingMessage) => isWebSocketUpgrade(req.headers.upgrade),
    // keepAliveTimeout stays Node's 5 s, what has always been in effect: clients' pools follow
    // the server's hint, and a longer one keeps their reconnected spares open on us for as long.
  };
}

export async function buildApp(ctx: AppContext, routes: RouteRegistrar[] = ROUTES): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // Per-request log lines would sit on the hot path; interceptions are recorded instead.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: ctx.config.limits.body_bytes,
    return503OnClosing: true,
    genReqId: requestIdOf,
    // Long enough for any provider's ids; a longer segment is refused in the route's error shape.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => {
      const provider = providerOf(ctx, request.url);
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const message = tooLong
        ? `a path segment is longer than ${MAX_PARAM_LENGTH} characters`
        : 'the path is not valid';
      countRefusal(ctx, provider, 'invalid_request');
      (reply as unknown as FastifyReply)
        .code(tooLong ? 414 : 400)
        .headers(errorHeaders(provider?.kind.errors, 'invalid_request'))
        .send(errorFor(provider?.kind.errors, 'invalid_request', message));
    },
    clientErrorHandler: clientErrorHandler(ctx),
    serverFactory: (handler) => createServer(serverOptions(ctx), frontDoor(ctx, handler)),
  });
  decorateRequests(app);
  rawBodyParser(app, ctx.config.limits.body_bytes);

  // An unknown route is answered before its body is read: nothing behind it wants the bytes.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return refuse(ctx, reply, providerOf(ctx, request.url), 'not_found', notFoundMessage(request));
  });

  // A body declared too large is refused (after the route's auth) before a byte of it is read.
  app.addHook('preParsing', async (request, reply, payload) => {
    const limit = ctx.config.limits.body_bytes;
    if (Number(request.headers['content-length']) > limit) {
      refuse(ctx, reply, providerOf(ctx, request.url), 'too_large', tooLargeMessage(limit));
    }
    return payload;
  });

  await registerApi(app, ctx);
  for (const register of routes) register(app, ctx);

  app.setNotFoundHandler((request, reply) => {
    const provider = providerOf(ctx, request.url);
    countRefusal(ctx, provider, 'not_found');
    reply
      .code(404)
      .headers(errorHeaders(provider?.kind.errors, 'not_found'))
      .send(errorFor(provider?.kind.errors, 'not_found', notFoundMessage(request)));
  });
  // Errors raised before a handler runs (body too large, bad framing): no stack or internals reach the client.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error, url: request.url }, 'request failed');
    const message = status === 500 ? `internal error (request id ${request.id})` : error.message;
    const kind = KIND_BY_STATUS[status] ?? (status === 500 ? 'internal' : 'invalid_request');
    const provider = providerOf(ctx, request.url);
    countRefusal(ctx, provider, kind); // a 4xx is refused; `internal` is not counted
    reply
      .code(status)
      .headers(errorHeaders(provider?.kind.errors, kind))
      .header('x-request-id', request.id)
      .send(errorFor(provider?.kind.errors, kind, message));
  });
  return app;
}
