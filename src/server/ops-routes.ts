import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const up = await ctx.store.ping(800);
    // Not ready is an error like any other (SPEC §7): it says why in `message`.
    const body: Record<string, unknown> = {
      ...(up ? {} : { message: 'not ready: the store does not answer' }),
      status: up ? 'ready' : 'unavailable',
      store: up ? 'up' : 'down',
      store_kind: ctx.store.kind,
      recorder: ctx.recorder.stats(),
    };
    for (const facts of ctx.readiness) Object.assign(body, facts());
    return reply.code(up ? 200 : 503).send(body);
  });
}
