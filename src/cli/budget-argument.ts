import { BUDGET_PERIODS, type Budget, type BudgetPeriod } from '../store/store.ts';
import { ExitError } from './common.ts';

/**
 * `set-budget … USD --period P`: a budget — `0` included, which allows no spend — or null for
 * `none` (the role's or the default's applies again). Bad usage exits 2.
 */
export function budgetArgument(usd: string, period: string): Budget | null {
  if (usd === 'none') return null;
  if (!BUDGET_PERIODS.includes(period as BudgetPeriod)) {
    throw new ExitError(`--period must be one of ${BUDGET_PERIODS.join(', ')}`, 2);
  }
  const amount = usd.trim() === '' ? Number.NaN : Number(usd);
  if (!Number.isFinite(amount) || amount < 0) throw new ExitError('USD must be a number of at least 0, or "none"', 2);
  return { usd: amount, period: period as BudgetPeriod };
}
