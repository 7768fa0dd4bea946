import type { FastifyInstance } from 'fastify';
import { budgetWindow } from '../../../budgets/window.ts';
import { apiUsd } from '../../../store/figures.ts';
import type { AppContext } from '../../context.ts';
import { guard } from '../errors.ts';
import { ref } from '../schemas.ts';
import { caller, errors, type Params, target, userParams } from './shared.ts';

/** GET /users/{user}/spend: spend in the current budget period (themselves, owners, auditors). */
export function getSpend(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: Params }>(
    '/users/:user/spend',
    {
      schema: {
        tags: ['usage'],
        summary: "A user's spend in the current budget period",
        params: userParams,
        response: { 200: ref('Spend'), ...errors },
      },
    },
    async (request) => {
      const user = await target(ctx, await caller(ctx, request), request.params.user, false);
      const budget = ctx.budgets.budgetOf(user);
      const window = budgetWindow(budget?.period ?? 'month', new Date());
      const spent = await guard(ctx, () => ctx.store.audit.spend(user._id, window.start));
      return {
        budget,
        spent_usd: apiUsd(spent) ?? 0,
        period_start: window.start.toISOString(),
        resets_at: window.resetsAt.toISOString(),
      };
    },
  );
}
