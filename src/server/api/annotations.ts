import type { FastifyInstance } from 'fastify';
import { ANNOTATE_WORK_SCHEMA } from '../../work-context/tool.ts';
import type { AppContext } from '../context.ts';
import { principalOf } from './auth.ts';
import { invalid } from './errors.ts';
import { ref } from './schemas.ts';

interface Body {
  repo?: string;
  branch?: string;
  issue_urls?: string[];
  pr_urls?: string[];
  note?: string;
  client_session_id?: string;
}

const errors = { 400: ref('Error'), 401: ref('Error'), 403: ref('Error'), 503: ref('Error') };

/**
 * Work context through the API (README "Work context"): what annotate_work does, for a caller that
 * is not an agent — a CI job naming the PR a session worked on, say. Always the caller's own.
 */
export function annotationRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: Body }>(
    '/annotations',
    {
      schema: {
        tags: ['audit'],
        summary: "Attach work context to one of the caller's sessions (or their latest interception)",
        body: {
          ...ANNOTATE_WORK_SCHEMA,
          properties: {
            ...ANNOTATE_WORK_SCHEMA.properties,
            client_session_id: {
              type: 'string',
              minLength: 1,
              maxLength: 256,
              description: "the agent's session id; the caller's latest interception without one",
            },
          },
        },
        response: { 201: ref('Annotation'), ...errors },
      },
    },
    async (request, reply) => {
      const principal = await principalOf(ctx, request);
      const { client_session_id: sessionId, ...args } = request.body;
      const done = await ctx.work.annotator.annotate(
        { userId: principal.user._id, sessionId: sessionId ?? null, interceptionId: null },
        args,
      );
      if (!done.ok) throw invalid([{ field: 'body', detail: done.text }], 'invalid request body');
      const { _id, created_at, ...fields } = done.annotation;
      return reply.code(201).send({ id: _id, ...fields, created_at: created_at.toISOString() });
    },
  );
}
