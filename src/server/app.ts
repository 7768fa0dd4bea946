import { createServer } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { registerApi } from '../api/index.ts';
import { type BridgeErrorKind, errorBody } from '../providers/errors.ts';
import type { AppContext } from './context.ts';
import { ROUTES, type RouteRegistrar } from './routes.ts';

const KIND_BY_STATUS: Record<number, BridgeErrorKind> = {
  400: 'invalid_request',
  404: 'not_found',
  413: 'too_large',
  415: 'invalid_request',
};

/** The provider whose routes a path belongs to (`/P/...` or `/api/v2/aibridge/P/...`), for its error format. */
function providerTypeOf(ctx: AppContext, url: string) {
  const segments = url.split('?')[0]?.split('/') ?? [];
  const name = segments[1] === 'api' ? segments[4] : segments[1];
  return ctx.providers.find((p) => p.name === name)?.type;
}

/**
 * Bodies stay raw Buffers: passthrough forwards them byte for byte, and bridged
 * routes parse them themselves so a bad body gets the provider's own error format.
 */
export async function buildApp(ctx: AppContext, routes: RouteRegistrar[] = ROUTES): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // Per-request log lines would sit on the hot path; interceptions are recorded instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.limits.body_bytes,
    requestTimeout: 0,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    serverFactory: (handler) => createServer({ maxHeaderSize: ctx.config.limits.max_header_bytes }, handler),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  await registerApi(app, ctx);
  for (const register of routes) register(app, ctx);

  app.setNotFoundHandler((request, reply) => {
    const message = `no route for ${request.method} ${request.url.split('?')[0]}`;
    const provider = providerTypeOf(ctx, request.url);
    reply.code(404).send(provider ? errorBody(provider, 'not_found', message) : { message });
  });
  // Errors raised before a handler runs (body too large, bad framing): no stack or internals reach the client.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error, url: request.url }, 'request failed');
    const message = status === 500 ? 'internal error' : error.message;
    const kind = KIND_BY_STATUS[status] ?? (status === 500 ? 'internal' : 'invalid_request');
    const provider = providerTypeOf(ctx, request.url);
    reply.code(status).send(provider ? errorBody(provider, kind, message) : { message });
  });
  return app;
}
