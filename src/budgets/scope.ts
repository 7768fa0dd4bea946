import type { Budget } from '../store/store.ts';

/** Whose budget a reservation is taken from: a user's own (or their role's), or one of their teams'. */
export interface BudgetScope {
  kind: 'user' | 'team';
  id: string;
  /** The username or team name, as refusals and notifications say it. */
  name: string;
  budget: Budget;
}

/** "$100.00/month"; a budget under a cent keeps its digits ("$0.000001/day"). */
export const describeBudget = (b: Budget) => `${formatUsd(b.usd, true)}/${b.period}`;

/**
 * Dollars as people read them: cents, or two significant digits under a cent; `exact` (a
 * budget) keeps every digit cents would round away — to a billionth, as amounts are stored,
 * never an exponent ("$0.00001", not "$0.00" or "$1e-5"). The console's budgetUsd follows it.
 */
export function formatUsd(usd: number, exact = false): string {
  const cents = usd.toFixed(2);
  if (Math.abs(Number(cents) - usd) <= 1e-9) return `$${cents}`;
  if (exact) return `$${usd.toFixed(9).replace(/0+$/, '')}`;
  if (Math.abs(usd) >= 0.01) return `$${cents}`;
  const digits = Math.min(12, 1 - Math.floor(Math.log10(Math.abs(usd))));
  return `$${usd.toFixed(digits).replace(/0+$/, '')}`;
}
