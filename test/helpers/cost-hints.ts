import type { CostHints } from '../../src/pricing/estimate.ts';

/** A call that allows this many output tokens and nothing more: what the unit tests of budgets reserve. */
export const output = (tokens: number): CostHints => ({ maxOutput: tokens, answers: 1, storedInput: false });
