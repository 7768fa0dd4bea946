import { LedgerContendedError, type QuotaLedger } from '../store/ledger.ts';

/**
 * A limit shared by every process of the bridge (workers and replicas) through the store, that
 * the request path checks without waiting on the store while there is room: each process holds
 * an *allowance* granted from the store's ledger of a period, takes from it locally, and asks
 * for more only when it runs short. The store never grants more than `limit − spent − what the
 * other processes hold`, so all processes together stay within the limit, whatever their
 * number; what is spent beyond is only the misestimate of calls in flight (README "Cost and
 * budgets"). A process that dies loses its allowance to expiry, not to the others.
 * Budgets (USD per period) and per-user rate limits (requests per minute) are both quotas.
 */

export interface QuotaOptions {
  ledger: QuotaLedger;
  /** This process, unique among all (host, pid, random). */
  holder: string;
  /** How long an allowance outlives its holder's last word. */
  holdMs?: number;
  /** How often settled amounts are written and idle allowances given back. */
  flushMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /**
   * A scope's spend as this process now knows it (the ledger's, plus what it settled and has
   * not written yet): after each answer of the ledger and each settled call. Budget
   * notifications watch it; it must not throw.
   */
  onSpent?: (key: string, spent: number) => void;
}

/** What the ledger's spent is at least: a number, or how to read it (only when the store is asked). */
export type Seed = number | (() => Promise<number>);

/** A reservation taken for one call: settled to its real amount, or released. */
export interface Ticket {
  readonly amount: number;
  settle(actual: number): void;
  release(): void;
}

export type Reservation =
  | { ok: true; ticket: Ticket }
  | {
      ok: false;
      /** Spent in the period as far as known, and what calls in flight hold. */
      spent: number;
      reserved: number;
    };

class Account {
  /** This process's allowance from the ledger, and when the ledger lets it lapse unless renewed. */
  held = 0;
  heldUntil = 0;
  /** Taken by calls in flight. */
  inFlight = 0;
  /** Settled here, not yet written to the ledger. */
  unflushed = 0;
  /** The ledger's spent and the others' holds, as last seen. */
  spent = 0;
  othersHeld = 0;
  lastUse = 0;
  /** The account's request to the store under way: one at a time, so their effects add up in order. */
  busy: Promise<unknown> | undefined;
  readonly key: string;
  /** The scope's limit as last asked for: a reload or a new budget changes it in place (tickets out keep this account). */
  limit: number;
  constructor(key: string, limit: number) {
    this.key = key;
    this.limit = limit;
  }
  get free(): number {
    return this.held - this.inFlight - this.unflushed;
  }
}

/** Sums of floating-point amounts are off by a few ulps: below this, a shortfall is none (a billionth of a dollar). */
export const SLACK = 1e-9;
/** How long a store that failed a step is left alone: calls meanwhile go on what this process knows. */
const RETRY_STORE_MS = 5_000;
/** Accounts idle this long give their allowance back and are forgotten. */
const IDLE_MS = 5_000;
/** Ledger state unused this long is forgotten (each process prunes now and then; any one suffices). */
const PRUNE_AFTER_MS = 15 * 60_000;
const PRUNE_EVERY_MS = 10 * 60_000;

export class Quotas {
  readonly #ledger: QuotaLedger;
  readonly #holder: string;
  readonly #holdMs: number;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  readonly #onSpent: (key: string, spent: number) => void;
  readonly #accounts = new Map<string, Account>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> | undefined;
  #prunedAt = 0;
  /** After the store failed a step, it is not asked again before this (each ask may wait out a timeout). */
  #quietUntil = 0;

  constructor(options: QuotaOptions) {
    this.#ledger = options.ledger;
    this.#holder = options.holder;
    this.#holdMs = options.holdMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    this.#onSpent = options.onSpent ?? (() => {});
    this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 500);
    this.#timer.unref();
  }

  /**
   * Takes `amount` from the scope's `limit` for one call. Waits on the store only when this
   * process's allowance is short; `seed` is the spend recorded so far in the period (it catches
   * the ledger up), `chunk` how much more to ask for than needed, so the next calls need not ask.
   * When the store cannot answer, the call is let through if what this process knows fits.
   * `seed` is asked only when the store is (a function: only then is the recorded spend read).
   */
  async reserve(key: string, limit: number, amount: number, seed: Seed, chunk = 0): Promise<Reservation> {
    let account = this.#accounts.get(key);
    if (!account) {
      account = new Account(key, limit);
      this.#accounts.set(key, account);
    }
    // An allowance granted under a higher limit is not this process's to spend any more: asking
    // again gets what the new limit leaves (the ledger trims it), so a budget cut to 0 allows no call.
    if (limit < account.limit) account.held = Math.min(account.held, 0);
    account.limit = limit;
    account.lastUse = this.#now();
    // An allowance about to lapse in the ledger is not used here: asking renews it.
    if (account.heldUntil - this.#now() < this.#holdMs / 4) account.held = Math.min(account.held, 0);
    while (account.free + SLACK < amount) {
      if (account.busy) {
        await account.busy; // another call of this process is asking already: see what it got
        continue;
      }
      const short = amount - account.free;
      const got = await this.#exclusive(account, () => this.#ask(account, short, Math.max(short, chunk), seed));
      if (got === 'unreachable') {
        // Fail open on what this process knows, as budgets always did in an outage.
        if (account.spent + account.othersHeld + account.inFlight + account.unflushed + amount > limit + SLACK) {
          return this.#refusal(account);
        }
        break;
      }
      if (account.free + SLACK < amount) return this.#refusal(account);
    }
    account.inFlight += amount;
    return { ok: true, ticket: this.#ticket(account, amount) };
  }

  /** Writes settled amounts and gives idle allowances back; also every `flushMs`. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Gives every allowance back (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    for (const account of this.#accounts.values()) account.lastUse = 0;
    await this.#flush();
  }

  /** Runs one store operation of an account; the next waits for it. */
  #exclusive<T>(account: Account, run: () => Promise<T>): Promise<T> {
    const op = run();
    // Waiters only need to know it is over; the caller hears how it went.
    account.busy = op.then(
      () => {
        account.busy = undefined;
      },
      () => {
        account.busy = undefined;
      },
    );
    return op;
  }

  async #ask(account: Account, min: number, want: number, seed: Seed): Promise<'ok' | 'unreachable'> {
    if (this.#now() < this.#quietUntil) return 'unreachable';
    try {
      const grant = await this.#ledger.grant({
        key: account.key,
        holder: this.#holder,
        min,
        want,
        limit: account.limit,
        seed: typeof seed === 'function' ? await seed() : seed,
        now: new Date(this.#now()),
        expiresAt: new Date(this.#now() + this.#holdMs),
      });
      // The store's figure is authoritative; what this process settled but has not written is still in it.
      account.held = grant.held;
      account.heldUntil = this.#now() + this.#holdMs;
      account.spent = grant.spent;
      account.othersHeld = grant.othersHeld;
      this.#onSpent(account.key, account.spent + account.unflushed);
      return 'ok';
    } catch (err) {
      // A store that answers but is busy is asked again by the next call; one that failed is left alone a while.
      if (!(err instanceof LedgerContendedError)) this.#quietUntil = this.#now() + RETRY_STORE_MS;
      this.#onError(err);
      return 'unreachable';
    }
  }

  #refusal(account: Account): Reservation {
    return {
      ok: false,
      spent: account.spent + account.unflushed,
      reserved: account.othersHeld + account.inFlight,
    };
  }

  #ticket(account: Account, amount: number): Ticket {
    let done = false;
    return {
      amount,
      settle: (actual) => {
        if (done) return;
        done = true;
        account.inFlight -= amount;
        account.unflushed += Math.max(0, actual);
        account.lastUse = this.#now();
        this.#onSpent(account.key, account.spent + account.unflushed);
      },
      release: () => {
        if (done) return;
        done = true;
        account.inFlight -= amount;
      },
    };
  }

  async #flush(): Promise<void> {
    const now = this.#now();
    if (now - this.#prunedAt >= PRUNE_EVERY_MS && this.#ledger.prune) {
      this.#prunedAt = now;
      await this.#ledger.prune(new Date(now - PRUNE_AFTER_MS)).catch(this.#onError);
    }
    for (const account of [...this.#accounts.values()]) {
      if (account.busy) continue; // a grant under way: next time
      const idle = account.inFlight === 0 && now - account.lastUse >= IDLE_MS;
      const lapsing = account.held > 0 && account.heldUntil - now < this.#holdMs / 2;
      if (!account.unflushed && !(idle && account.held) && !lapsing) {
        if (idle && this.#accounts.get(account.key) === account) this.#accounts.delete(account.key);
        continue;
      }
      // Applied here first, so a call meanwhile sees the allowance as it will be; undone if the store fails.
      const spent = account.unflushed;
      const before = { held: account.held, spent: account.spent };
      account.unflushed -= spent;
      account.spent += spent;
      account.held = idle ? 0 : Math.max(0, account.held - spent);
      const heldUntil = account.heldUntil;
      account.heldUntil = now + this.#holdMs;
      try {
        const total = await this.#exclusive(account, () =>
          this.#ledger.settle({
            key: account.key,
            holder: this.#holder,
            spent,
            release: idle,
            expiresAt: new Date(now + this.#holdMs),
          }),
        );
        // Every process's settled spend, as the ledger has it now (never less than what was seen).
        account.spent = Math.max(account.spent, total);
        this.#onSpent(account.key, account.spent + account.unflushed);
      } catch (err) {
        this.#onError(err);
        account.unflushed += spent;
        account.held = before.held;
        account.spent = before.spent;
        account.heldUntil = heldUntil;
      }
    }
  }
}
