import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { AppContext } from './context.ts';
import { ROUTES, type RouteRegistrar } from './routes.ts';

/**
 * Bodies stay raw Buffers: passthrough forwards them byte for byte, and bridged
 * routes parse them themselves so a bad body gets the provider's own error format.
 */
export function buildApp(ctx: AppContext, routes: RouteRegistrar[] = ROUTES): FastifyInstance {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // Per-request log lines would sit on the hot path; interceptions are recorded instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ctx.config.limits.body_bytes,
    requestTimeout: 0,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const register of routes) register(app, ctx);

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: { type: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` } });
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error, url: request.url }, 'request failed');
    const message = status === 500 ? 'internal error' : error.message;
    reply
      .code(status)
      .send({ error: { type: status === 413 ? 'request_too_large' : 'invalid_request_error', message } });
  });
  return app;
}
