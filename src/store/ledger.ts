/**
 * The ledgers of limits shared by every process (budgets, rate limits; limits/quota.ts): what a
 * store must offer, and the decisions on a ledger, pure, so each store only makes them atomic.
 */

/** One ledger (a scope's period) as the store keeps it. */
export interface QuotaGrant {
  /** What this holder holds after the grant (its previous allowance plus what was added). */
  held: number;
  /** The ledger's spent, as the store has it now. */
  spent: number;
  /** What the other holders hold, unexpired. */
  othersHeld: number;
}

/** The store's side (store/…/budgets): atomic operations on a ledger keyed by scope and period. */
export interface QuotaLedger {
  /**
   * Adds to `holder`'s allowance at most `want`, and at least `min` (else nothing), of what the
   * ledger has left under `limit`; a missing ledger starts at `spent: seed` (the recorded spend).
   * Holds past their expiry count for nothing and are dropped; the holder's own is renewed.
   */
  grant(request: {
    key: string;
    holder: string;
    min: number;
    want: number;
    limit: number;
    seed: number;
    now: Date;
    expiresAt: Date;
  }): Promise<QuotaGrant>;
  /**
   * Adds `spent` to the ledger and takes it from `holder`'s allowance (what was spent is no
   * longer held); `release` gives the rest of the allowance back. Answers the ledger's spent
   * after the step (every holder's settled spend: budget notifications watch it), 0 without a ledger.
   */
  settle(request: { key: string; holder: string; spent: number; release: boolean; expiresAt: Date }): Promise<number>;
  /** Forgets ledger state last used before `before`, if the store keeps any that needs it. */
  prune?(before: Date): Promise<number>;
}

/**
 * A ledger step that lost to other processes' steps every time it tried: the store answers, it is
 * only busy — not an outage, so the caller does not stop asking it (limits/quota.ts).
 */
export class LedgerContendedError extends Error {
  constructor(key: string) {
    super(`quota ledger ${key} is too contended`);
    this.name = 'LedgerContendedError';
  }
}

/** A ledger as both stores keep it: one document per scope and period. */
export interface LedgerState {
  spent: number;
  /** Allowance per holder, with when it lapses (ms since the epoch). */
  holds: Record<string, { amount: number; until: number }>;
}

/** The grant decision on a ledger (null: none yet), the same in every store: pure, so a store only has to make it atomic. */
export function applyGrant(
  state: LedgerState | null,
  r: Parameters<QuotaLedger['grant']>[0],
): { state: LedgerState; grant: QuotaGrant } {
  const now = r.now.getTime();
  const holds: LedgerState['holds'] = {};
  let others = 0;
  for (const [holder, hold] of Object.entries(state?.holds ?? {})) {
    if (hold.until <= now || holder === r.holder) continue;
    holds[holder] = hold;
    others += hold.amount;
  }
  // Only a new ledger starts at the recorded spend: a live one already counts what its holders
  // settled, and the record of a call settled moments ago may or may not be in the store yet.
  const spent = state ? state.spent : r.seed;
  const own = state?.holds[r.holder];
  // An allowance granted under a higher limit (a budget lowered since) keeps only what this one leaves.
  const held = own && own.until > now ? Math.max(0, Math.min(own.amount, r.limit - spent - others)) : 0;
  const left = r.limit - spent - others - held;
  const add = left + 1e-9 >= r.min ? Math.max(0, Math.min(r.want, left)) : 0; // a billionth: float sums are inexact
  if (held + add > 0) holds[r.holder] = { amount: held + add, until: r.expiresAt.getTime() };
  return { state: { spent, holds }, grant: { held: held + add, spent, othersHeld: others } };
}

/** The settle step on a ledger: spent grows, the holder's allowance shrinks by it (or is given back). */
export function applySettle(state: LedgerState | null, r: Parameters<QuotaLedger['settle']>[0]): LedgerState {
  const holds = { ...state?.holds };
  const own = holds[r.holder];
  if (r.release || !own) delete holds[r.holder];
  else holds[r.holder] = { amount: Math.max(0, own.amount - r.spent), until: r.expiresAt.getTime() };
  return { spent: (state?.spent ?? 0) + r.spent, holds };
}
