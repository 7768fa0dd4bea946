import type { FastifyInstance } from 'fastify';
import type { RecordingFailure } from '../recorder/health.ts';
import type { AppContext } from './context.ts';

/** Why records cannot be kept, for `/readyz`'s message (README "Reliability"). */
const notKept = ({ where, cause }: RecordingFailure) =>
  where === 'journal'
    ? `records cannot be kept: the journal cannot be written (${cause})`
    : `records cannot be kept: the store refuses writes (${cause}); they wait in the journal`;

export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const up = await ctx.store.ping(800);
    const failure = ctx.recorder.failure();
    const reasons = [...(up ? [] : ['the store does not answer']), ...(failure ? [notKept(failure)] : [])];
    const ready = reasons.length === 0;
    // Not ready is an error like any other (README "API"): it says why in `message`.
    const body: Record<string, unknown> = {
      ...(ready ? {} : { message: `not ready: ${reasons.join('; ')}` }),
      status: ready ? 'ready' : 'unavailable',
      store: up ? 'up' : 'down',
      store_kind: ctx.store.kind,
      recording: failure ? { state: 'failing', ...failure } : { state: 'ok' },
      recorder: ctx.recorder.stats(),
    };
    for (const facts of ctx.readiness) Object.assign(body, facts());
    return reply.code(ready ? 200 : 503).send(body);
  });
}
