import type { Config } from '../config/config.ts';
import type { User } from '../identity/users.ts';
import type { Quotas, Ticket } from '../limits/quota.ts';
import type { Logger } from '../observability/logger.ts';
import type { Price } from '../pricing/cost.ts';
import { type CostHints, estimateCost } from '../pricing/estimate.ts';
import type { Budget, Store, TeamDoc } from '../store/store.ts';
import type { BudgetNotifier } from './notifier.ts';
import type { BudgetScope } from './scope.ts';
import { budgetWindow } from './window.ts';

export type BudgetRefusal =
  | {
      reason: 'budget';
      scope: BudgetScope;
      budget: Budget;
      spent: number;
      reserved: number;
      needed: number;
      resetsAt: Date;
    }
  | { reason: 'unpriced'; model: string };

interface Recorded {
  usd: number;
  periodStart: number;
  fetchedAt: number;
}

export interface BudgetsOptions {
  /** How long the store's recorded spend of a scope is used before it is read again. */
  refreshMs?: number;
  /** The teams a user is in now (asked per request: the caller caches); absent, no team budgets apply. */
  teamsOf?: (userId: string) => Promise<TeamDoc[]>;
  /** Told each scope's spend as it becomes known, to notify at `budgets.notify` shares. */
  notifier?: Pick<BudgetNotifier, 'observe'>;
  log?: Logger;
}

/** Ledgers whose spend is watched for notifications, at most (the oldest are forgotten first). */
const MAX_WATCHED = 10_000;

/**
 * Budgets (README "Cost and budgets", "Teams"): a user's own, else their role's default, and
 * each of their teams' (its own, else `budgets.team`). Every upstream call reserves its
 * largest likely cost from every budget that applies before it is sent — all of them or none —
 * and settles to its real cost when its usage arrives; reservations are taken from quotas
 * shared by every worker and replica through the store (limits/quota.ts), so concurrency
 * cannot outrun a budget: what is spent beyond it is at most the misestimate of the calls in flight.
 */
export class Budgets {
  readonly #store: Store;
  readonly #config: () => Config;
  readonly #quotas: Quotas;
  readonly #refreshMs: number;
  readonly #teamsOf: ((userId: string) => Promise<TeamDoc[]>) | undefined;
  readonly #notifier: Pick<BudgetNotifier, 'observe'> | undefined;
  readonly #log: Logger | undefined;
  #warnedAt = 0;
  /** The spend the store has recorded per scope this period: it catches a new ledger up. */
  readonly #recorded = new Map<string, Recorded>();
  /** Ledger key → the scope and period it counts, for notifications. */
  readonly #watched = new Map<string, { scope: BudgetScope; window: { start: Date; resetsAt: Date } }>();

  constructor(store: Store, config: () => Config, quotas: Quotas, options: BudgetsOptions = {}) {
    this.#store = store;
    this.#config = config;
    this.#quotas = quotas;
    this.#refreshMs = options.refreshMs ?? 5_000;
    this.#teamsOf = options.teamsOf;
    this.#notifier = options.notifier;
    this.#log = options.log;
  }

  budgetOf(user: User): Budget | null {
    return user.budget ?? this.#config().budgets[user.role] ?? null;
  }

  /** A team's budget: its own, else `budgets.team`; null when neither. */
  teamBudgetOf(team: TeamDoc): Budget | null {
    return team.budget ?? this.#config().budgets.team ?? null;
  }

  /**
   * Every budget a user's calls must fit. A store that cannot say which teams the user is in
   * leaves their team budgets out for this call (budgets fail open in an outage, as the quotas do).
   */
  async scopesOf(user: User): Promise<BudgetScope[]> {
    const scopes: BudgetScope[] = [];
    const own = this.budgetOf(user);
    if (own) scopes.push({ kind: 'user', id: user._id, name: user.username, budget: own });
    if (!this.#teamsOf) return scopes;
    let teams: TeamDoc[] = [];
    try {
      teams = await this.#teamsOf(user._id);
    } catch (err) {
      // Once a minute at most: every request of every user meets the same outage.
      if (Date.now() - this.#warnedAt > 60_000) {
        this.#warnedAt = Date.now();
        this.#log?.warn(
          { err: (err as Error).message },
          'budgets: the store cannot say which teams users are in; team budgets are left out until it can',
        );
      }
    }
    for (const team of teams) {
      const budget = this.teamBudgetOf(team);
      if (budget) scopes.push({ kind: 'team', id: team._id, name: team.name, budget });
    }
    return scopes;
  }

  /**
   * What one interception spends through, or null when no budget applies to the user. `price`
   * is the model's (null when it has none: refused unless `budgets.unpriced: allow`).
   */
  async spending(user: User, model: string, price: Price | null, now = new Date()): Promise<Spending | null> {
    const scopes = await this.scopesOf(user);
    if (!scopes.length) return null;
    return new Spending(this, scopes, model, price, now);
  }

  /** @internal Reserves `usd` of one scope's budget for one call. */
  async reserve(scope: BudgetScope, usd: number, now: Date): Promise<Ticket | BudgetRefusal> {
    const { budget } = scope;
    const window = budgetWindow(budget.period, now);
    const key = `budget:${scope.kind}:${scope.id}:${budget.period}:${window.start.toISOString()}`;
    this.#watch(key, scope, window);
    // Ask for a tenth of the budget at a time, so most calls take from this process's allowance.
    const result = await this.#quotas.reserve(
      key,
      budget.usd,
      usd,
      () => this.#seed(scope, window.start),
      budget.usd / 10,
    );
    if (result.ok) return result.ticket;
    return {
      reason: 'budget',
      scope,
      budget,
      spent: result.spent,
      reserved: result.reserved,
      needed: usd,
      resetsAt: window.resetsAt,
    };
  }

  /** The quotas' word on a ledger's spend (limits/quota.ts onSpent): notifications look at it. */
  spentSeen(key: string, spent: number): void {
    const watched = this.#watched.get(key);
    if (watched) this.#notifier?.observe(watched.scope, watched.window, spent);
  }

  get unpricedAllowed(): boolean {
    return this.#config().budgets.unpriced === 'allow';
  }

  /** A scope's spend recorded this period: its own, or its members' (as the team is now). */
  async recordedSpend(scope: Pick<BudgetScope, 'kind' | 'id'>, since: Date): Promise<number> {
    if (scope.kind === 'user') return this.#store.audit.spend(scope.id, since);
    const members = (await this.#store.teams.members({ team_ids: [scope.id] })).map((m) => m.user_id);
    if (!members.length) return 0;
    const [sum] = await this.#store.audit.usage(
      { initiator_ids: members, started_after: new Date(since.getTime() - 1) },
      [],
    );
    return sum?.cost_usd ?? 0;
  }

  #watch(key: string, scope: BudgetScope, window: { start: Date; resetsAt: Date }): void {
    this.#watched.delete(key);
    this.#watched.set(key, { scope, window });
    if (this.#watched.size > MAX_WATCHED) this.#watched.delete(this.#watched.keys().next().value as string);
  }

  /** The scope's recorded spend this period, asked of the store at most every `refreshMs`. */
  async #seed(scope: BudgetScope, periodStart: Date): Promise<number> {
    const now = Date.now();
    const id = `${scope.kind}:${scope.id}`;
    const known = this.#recorded.get(id);
    if (known && known.periodStart === periodStart.getTime() && now - known.fetchedAt < this.#refreshMs) {
      return known.usd;
    }
    const usd = await this.recordedSpend(scope, periodStart);
    this.#recorded.set(id, { usd, periodStart: periodStart.getTime(), fetchedAt: now });
    return usd;
  }
}

/** One call's reservations, one per scope, settled or released together. */
function together(tickets: Ticket[], amount: number): Ticket {
  return {
    amount,
    settle: (actual) => {
      for (const ticket of tickets) ticket.settle(actual);
    },
    release: () => {
      for (const ticket of tickets) ticket.release();
    },
  };
}

/**
 * One interception's reservations: one before each upstream call (from every budget that
 * applies, or from none), settled in order as the calls' usages are priced; whatever is still
 * open when it ends is released (a call that failed before answering costs nothing), or kept at
 * its estimate when the upstream had started answering and no usage came (it may have been billed).
 */
export class Spending {
  readonly #budgets: Budgets;
  readonly #scopes: BudgetScope[];
  #model: string;
  #price: Price | null;
  readonly #now: Date;
  readonly #open: Ticket[] = [];
  readonly #answered = new WeakSet<Ticket>();

  constructor(budgets: Budgets, scopes: BudgetScope[], model: string, price: Price | null, now: Date) {
    this.#budgets = budgets;
    this.#scopes = scopes;
    this.#model = model;
    this.#price = price;
    this.#now = now;
  }

  /** Later reservations are for this model, at its price: an alias's next target (README "Aliases and fallbacks"). */
  retarget(model: string, price: Price | null): void {
    this.#model = model;
    this.#price = price;
  }

  /** Reserves for the next upstream call; a refusal says why (a budget, or a model with no price). */
  async reserve(bodyBytes: number, hints: CostHints): Promise<BudgetRefusal | null> {
    if (!this.#price) return this.#budgets.unpricedAllowed ? null : { reason: 'unpriced', model: this.#model };
    const usd = estimateCost(this.#price, bodyBytes, hints);
    const taken: Ticket[] = [];
    for (const scope of this.#scopes) {
      const got = await this.#budgets.reserve(scope, usd, this.#now);
      if ('reason' in got) {
        // All or nothing: what the other budgets gave back goes back.
        for (const ticket of taken) ticket.release();
        return got;
      }
      taken.push(got);
    }
    this.#open.push(together(taken, usd));
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
