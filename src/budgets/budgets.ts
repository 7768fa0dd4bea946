import type { Config } from '../config/config.ts';
import type { User } from '../identity/users.ts';
import type { Budget, Store } from '../store/store.ts';
import { budgetWindow } from './window.ts';

interface BudgetRefusal {
  budget: Budget;
  spent: number;
  resetsAt: Date;
}

interface Spent {
  /** What the store had for this period when asked. */
  stored: number;
  /** Costs this replica recorded since then (the store may not have them yet). */
  local: number;
  periodStart: number;
  fetchedAt: number;
}

/**
 * Budgets (SPEC §13): a user's own, else their role's default. Spend is counted in the store,
 * so every replica enforces the same total: each asks it at most every `refreshMs` per user
 * and adds what it recorded itself since. A request is admitted while spend is below the
 * limit, so the overshoot is bounded by the requests already admitted when the limit is
 * crossed — those in flight on every replica, plus, on other replicas, those started within
 * `refreshMs` before they see the new total.
 */
export class Budgets {
  readonly #store: Store;
  readonly #config: () => Config;
  readonly #refreshMs: number;
  readonly #spent = new Map<string, Spent>();

  constructor(store: Store, config: () => Config, options: { refreshMs?: number } = {}) {
    this.#store = store;
    this.#config = config;
    this.#refreshMs = options.refreshMs ?? 5_000;
  }

  budgetOf(user: User): Budget | null {
    return user.budget ?? this.#config().budgets[user.role] ?? null;
  }

  /**
   * Null when the user may go on; else the budget reached. Fails open if the store cannot
   * answer, counting from what it last said (or zero) plus this replica's costs since.
   */
  async check(user: User, now = new Date()): Promise<BudgetRefusal | null> {
    const budget = this.budgetOf(user);
    if (!budget) return null;
    const window = budgetWindow(budget.period, now);
    let entry = this.#spent.get(user._id);
    if (!entry || entry.periodStart !== window.start.getTime() || now.getTime() - entry.fetchedAt >= this.#refreshMs) {
      try {
        const stored = await this.#store.audit.spend(user._id, window.start);
        entry = { stored, local: 0, periodStart: window.start.getTime(), fetchedAt: now.getTime() };
      } catch {
        // Fail open (an outage must not lock everyone out), but not blindly: keep what was
        // known — nothing, for a user not seen this period — and count what this replica
        // records from now on; ask the store again only after refreshMs, not on every request.
        entry =
          entry && entry.periodStart === window.start.getTime()
            ? { ...entry, fetchedAt: now.getTime() }
            : { stored: 0, local: 0, periodStart: window.start.getTime(), fetchedAt: now.getTime() };
      }
      this.#spent.set(user._id, entry);
    }
    const spent = entry.stored + entry.local;
    return spent >= budget.usd ? { budget, spent, resetsAt: window.resetsAt } : null;
  }

  /** A cost this replica just recorded, counted at once rather than at the next refresh. */
  noteCost(userId: string, usd: number | null): void {
    const entry = this.#spent.get(userId);
    if (entry && usd) entry.local += usd;
  }
}

/** "$100.00/month" */
export const describeBudget = (b: Budget) => `$${b.usd.toFixed(2)}/${b.period}`;
