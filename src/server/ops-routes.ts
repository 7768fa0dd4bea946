import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const mongodb = await ctx.store.ping();
    const body: Record<string, unknown> = {
      status: mongodb ? 'ready' : 'unavailable',
      mongodb: mongodb ? 'up' : 'down',
    };
    for (const facts of ctx.readiness) Object.assign(body, facts());
    return reply.code(mongodb ? 200 : 503).send(body);
  });
}
