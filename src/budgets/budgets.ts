import type { Config } from '../config/config.ts';
import type { User } from '../identity/users.ts';
import type { Quotas, Ticket } from '../limits/quota.ts';
import type { Price } from '../pricing/cost.ts';
import { estimateCost } from '../pricing/estimate.ts';
import type { Budget, Store } from '../store/store.ts';
import { budgetWindow } from './window.ts';

export type BudgetRefusal =
  | { reason: 'budget'; budget: Budget; spent: number; reserved: number; needed: number; resetsAt: Date }
  | { reason: 'unpriced'; model: string };

interface Recorded {
  usd: number;
  periodStart: number;
  fetchedAt: number;
}

/**
 * Budgets (README "Cost and budgets"): a user's own, else their role's default. Every upstream
 * call reserves its largest likely cost before it is sent and settles to its real cost when its
 * usage arrives; reservations are taken from a quota shared by every worker and replica
 * through the store (limits/quota.ts), so concurrency cannot outrun a budget: what is spent
 * beyond it is at most the misestimate of the calls in flight.
 */
export class Budgets {
  readonly #store: Store;
  readonly #config: () => Config;
  readonly #quotas: Quotas;
  readonly #refreshMs: number;
  /** The spend the store has recorded per user this period: it catches a new ledger up. */
  readonly #recorded = new Map<string, Recorded>();

  constructor(store: Store, config: () => Config, quotas: Quotas, options: { refreshMs?: number } = {}) {
    this.#store = store;
    this.#config = config;
    this.#quotas = quotas;
    this.#refreshMs = options.refreshMs ?? 5_000;
  }

  budgetOf(user: User): Budget | null {
    return user.budget ?? this.#config().budgets[user.role] ?? null;
  }

  /**
   * What one interception spends through, or null when the user has no budget. `price` is the
   * model's (null when it has none: refused unless `budgets.unpriced: allow`).
   */
  spending(user: User, model: string, price: Price | null, now = new Date()): Spending | null {
    const budget = this.budgetOf(user);
    if (!budget) return null;
    return new Spending(this, user, budget, model, price, now);
  }

  /** @internal Reserves `usd` of a user's budget for one call. */
  async reserve(user: User, budget: Budget, usd: number, now: Date): Promise<Ticket | BudgetRefusal> {
    const window = budgetWindow(budget.period, now);
    const key = `budget:user:${user._id}:${budget.period}:${window.start.toISOString()}`;
    // Ask for a tenth of the budget at a time, so most calls take from this process's allowance.
    const result = await this.#quotas.reserve(
      key,
      budget.usd,
      usd,
      () => this.#seed(user._id, window.start),
      budget.usd / 10,
    );
    if (result.ok) return result.ticket;
    return {
      reason: 'budget',
      budget,
      spent: result.spent,
      reserved: result.reserved,
      needed: usd,
      resetsAt: window.resetsAt,
    };
  }

  get unpricedAllowed(): boolean {
    return this.#config().budgets.unpriced === 'allow';
  }

  /** The user's recorded spend this period, asked of the store at most every `refreshMs`. */
  async #seed(userId: string, periodStart: Date): Promise<number> {
    const now = Date.now();
    const known = this.#recorded.get(userId);
    if (known && known.periodStart === periodStart.getTime() && now - known.fetchedAt < this.#refreshMs) {
      return known.usd;
    }
    const usd = await this.#store.audit.spend(userId, periodStart);
    this.#recorded.set(userId, { usd, periodStart: periodStart.getTime(), fetchedAt: now });
    return usd;
  }
}

/**
 * One interception's reservations: one before each upstream call, settled in order as the
 * calls' usages are priced; whatever is still open when it ends is released (a call that
 * failed before answering costs nothing), or kept at its estimate when the upstream had started
 * answering and no usage came (it may have been billed).
 */
export class Spending {
  readonly #budgets: Budgets;
  readonly #user: User;
  readonly #budget: Budget;
  #model: string;
  #price: Price | null;
  readonly #now: Date;
  readonly #open: Ticket[] = [];
  readonly #answered = new WeakSet<Ticket>();

  constructor(budgets: Budgets, user: User, budget: Budget, model: string, price: Price | null, now: Date) {
    this.#budgets = budgets;
    this.#user = user;
    this.#budget = budget;
    this.#model = model;
    this.#price = price;
    this.#now = now;
  }

  /** Later reservations are for this model, at its price: an alias's next target (README "Aliases and fallbacks"). */
  retarget(model: string, price: Price | null): void {
    this.#model = model;
    this.#price = price;
  }

  /** Reserves for the next upstream call; a refusal says why (the budget, or a model with no price). */
  async reserve(bodyBytes: number, maxOutputTokens: number | null): Promise<BudgetRefusal | null> {
    if (!this.#price) return this.#budgets.unpricedAllowed ? null : { reason: 'unpriced', model: this.#model };
    const usd = estimateCost(this.#price, bodyBytes, maxOutputTokens);
    const got = await this.#budgets.reserve(this.#user, this.#budget, usd, this.#now);
    if ('reason' in got) return got;
    this.#open.push(got);
    return null;
  }

  /**
   * The upstream answered the newest call: with 200 it may be billed from now on (kept at its
   * estimate if no usage comes); otherwise it cost nothing and its reservation is released.
   */
  answered(ok: boolean): void {
    const ticket = this.#open.at(-1);
    if (!ticket || this.#answered.has(ticket)) return;
    if (ok) this.#answered.add(ticket);
    else {
      this.#open.pop();
      ticket.release();
    }
  }

  /** The oldest open call's usage, priced (null: unpriced, which `allow` let through). */
  settle(usd: number | null): void {
    const ticket = this.#open.shift();
    if (!ticket) return;
    if (usd === null) ticket.release();
    else ticket.settle(usd);
  }

  /** The interception is over: open calls that were answering count at their estimate, the rest are released. */
  end(): void {
    for (const ticket of this.#open.splice(0)) {
      if (this.#answered.has(ticket)) ticket.settle(ticket.amount);
      else ticket.release();
    }
  }
}

/** "$100.00/month"; a budget under a cent keeps its digits ("$0.000001/day"). */
export const describeBudget = (b: Budget) => `${formatUsd(b.usd, true)}/${b.period}`;

/** Dollars as people read them: cents (a budget's exact figure when cents would round it), or two significant digits under a cent. */
export function formatUsd(usd: number, exact = false): string {
  if (usd === 0 || Math.abs(usd) >= 0.01) {
    const cents = usd.toFixed(2);
    return exact && Math.abs(Number(cents) - usd) > 1e-9 ? `$${usd}` : `$${cents}`;
  }
  const digits = Math.min(12, 1 - Math.floor(Math.log10(Math.abs(usd))));
  return `$${usd.toFixed(digits).replace(/0+$/, '')}`;
}
