import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { requireOwner } from '../auth.ts';
import { caller, changeUser, errors, type Params, target, userParams } from './shared.ts';

/** DELETE /users/{user}/budget: their role's default applies again (owners). */
export function deleteBudget(app: FastifyInstance, ctx: AppContext): void {
  app.delete<{ Params: Params }>(
    '/users/:user/budget',
    {
      schema: {
        tags: ['users'],
        summary: "Remove a user's own budget: their role's default applies again (owners)",
        params: userParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const principal = await caller(ctx, request);
      requireOwner(principal);
      const user = await target(ctx, principal, request.params.user, true);
      await changeUser(ctx, () => ctx.users.setBudget(user._id, null));
      return reply.code(204).send();
    },
  );
}
