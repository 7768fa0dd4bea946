import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';

/** GET /metrics: Prometheus text. Unauthenticated, like any scrape target; it carries no tokens or prompts. */
export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  ctx.metrics.watch({
    recorder: () => ctx.recorder.stats(),
    mcpServers: () => ctx.mcp?.manager.status() ?? {},
    auditSinks: () => ctx.auditSinks?.stats() ?? [],
    *breakers() {
      for (const provider of ctx.providers)
        for (const [model, breaker] of provider.breakers.breakers)
          yield { provider: provider.name, model, state: breaker.state };
    },
    *keyPools() {
      for (const provider of ctx.providers)
        if (provider.pool) yield { provider: provider.name, counts: provider.pool.counts() };
    },
  });
  app.get('/metrics', async (_request, reply) => {
    // Under --workers a scrape reaches one worker; the primary adds up all of them.
    const text = ctx.clusterMetrics ? await ctx.clusterMetrics() : await ctx.metrics.registry.metrics();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
  });
}
