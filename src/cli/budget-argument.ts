import { BUDGET_PERIODS, type Budget, type BudgetPeriod } from '../store/store.ts';
import { ExitError } from './common.ts';

/** `set-budget … USD --period P`: a budget, or null for `0` / `none` (the default applies). Bad usage exits 2. */
export function budgetArgument(usd: string, period: string): Budget | null {
  if (!BUDGET_PERIODS.includes(period as BudgetPeriod)) {
    throw new ExitError(`--period must be one of ${BUDGET_PERIODS.join(', ')}`, 2);
  }
  const amount = usd === 'none' ? 0 : Number(usd);
  if (!Number.isFinite(amount) || amount < 0) throw new ExitError('USD must be a number of at least 0', 2);
  return amount === 0 ? null : { usd: amount, period: period as BudgetPeriod };
}
