import type { BudgetRefusal } from '../budgets/budgets.ts';
import { describeBudget, formatUsd } from '../budgets/scope.ts';
import type { User } from '../identity/users.ts';
import type { AppContext } from './context.ts';
import type { RouteProvider } from './refuse.ts';

/**
 * The words and headers of a budget's 429 (counted in `aibridge_budget_rejections_total`):
 * the limit, what is spent and held by calls in flight, and when it resets; or, for a model
 * with no price, which model and how an owner prices it.
 */
export function budgetRefusal(
  ctx: Pick<AppContext, 'metrics'>,
  provider: RouteProvider,
  user: User,
  refusal: BudgetRefusal,
): { message: string; headers: Record<string, string> } {
  if (refusal.reason === 'unpriced') {
    ctx.metrics.budgetRejections.labels(provider.name, 'unpriced').inc();
    return {
      message: `model ${refusal.model} has no price, and ${user.username} has a budget: an owner can add its price under pricing: in the bridge's configuration (or set budgets.unpriced: allow)`,
      headers: {},
    };
  }
  const { budget, spent, reserved, needed, resetsAt, scope } = refusal;
  const whose = scope.kind === 'team' ? `team ${scope.name}` : user.username;
  ctx.metrics.budgetRejections.labels(provider.name, budget.period).inc();
  const retryAfter = String(Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000)));
  const resets = `it resets at ${resetsAt.toISOString()}`;
  const message =
    spent >= budget.usd
      ? `budget of ${describeBudget(budget)} reached for ${whose} (${formatUsd(spent)} spent); ${resets}`
      : `budget of ${describeBudget(budget)} would be exceeded for ${whose} (${formatUsd(spent)} spent, ${formatUsd(reserved)} held by calls in flight, this call may cost up to ${formatUsd(needed)}); ${resets}`;
  return { message, headers: { 'retry-after': retryAfter } };
}
