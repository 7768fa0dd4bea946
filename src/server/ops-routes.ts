import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const up = await ctx.store.ping(800);
    const body: Record<string, unknown> = {
      status: up ? 'ready' : 'unavailable',
      store: up ? 'up' : 'down',
      store_kind: ctx.store.kind,
      recorder: ctx.recorder.stats(),
    };
    for (const facts of ctx.readiness) Object.assign(body, facts());
    return reply.code(up ? 200 : 503).send(body);
  });
}
