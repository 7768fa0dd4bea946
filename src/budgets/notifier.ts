import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BudgetNotificationDoc, NotificationStore } from '../store/store.ts';
import { type BudgetScope, describeBudget, formatUsd } from './scope.ts';
import type { WebhookSender } from './webhook.ts';

/** Shares notified when `budgets.notify` is not set. */
export const DEFAULT_NOTIFY = [0.8, 1] as const;
/** A billionth of a dollar: float sums are inexact. */
const SLACK = 1e-9;
/** Notifications this process knows were sent (by it or another), so it asks the store about each once. */
const MAX_REMEMBERED = 10_000;
/** How long notifications wait after the store failed a claim. */
const STORE_PAUSE_MS = 5_000;

/**
 * Budget notifications (README "Teams"): when a user's or team's spend in a period reaches a
 * share of `budgets.notify`, the bridge logs it, counts it
 * (`aibridge_budget_notifications_total{share}`), POSTs it to `budgets.webhook` and keeps it for
 * the console's banner — once per scope, period and share across every worker and replica: the
 * one that inserts the notification's document (a unique id) sends it.
 */
export class BudgetNotifier {
  readonly #store: NotificationStore;
  readonly #config: () => Config;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #webhook: WebhookSender;
  readonly #known = new Set<string>();
  readonly #claiming = new Map<string, Promise<void>>();
  /** After the store failed a claim: no claims until then, and one warning a minute at most. */
  #quietUntil = 0;
  #warnedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: {
    store: NotificationStore;
    config: () => Config;
    metrics: Metrics;
    log: Logger;
    webhook: WebhookSender;
  }) {
    this.#store = deps.store;
    this.#config = deps.config;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#webhook = deps.webhook;
  }

  /** A scope's spend in a period, as this process now knows it; never throws, never waits. */
  observe(scope: BudgetScope, window: { start: Date; resetsAt: Date }, spent: number): void {
    if (Date.now() < this.#quietUntil) return;
    const shares = this.#config().budgets.notify ?? DEFAULT_NOTIFY;
    for (const share of shares) {
      if (spent + SLACK < share * scope.budget.usd) continue;
      const id = `${scope.kind}:${scope.id}:${scope.budget.period}:${window.start.toISOString()}:${share}`;
      if (this.#known.has(id) || this.#claiming.has(id)) continue;
      const doc: BudgetNotificationDoc = {
        _id: id,
        scope: { kind: scope.kind, id: scope.id, name: scope.name },
        share,
        budget: scope.budget,
        spent_usd: spent,
        period_start: window.start,
        resets_at: window.resetsAt,
        created_at: new Date(),
      };
      const claim = this.#claim(doc).finally(() => this.#claiming.delete(id));
      this.#claiming.set(id, claim);
    }
  }

  /** Claims under way (tests wait for them). */
  settled(): Promise<void> {
    return Promise.all([...this.#claiming.values()]).then(() => {});
  }

  async #claim(doc: BudgetNotificationDoc): Promise<void> {
    let mine: boolean;
    try {
      mine = await this.#store.claim(doc);
    } catch (err) {
      // Not remembered: a spend seen after a pause tries again (every settled call would otherwise ask, and log).
      const now = Date.now();
      this.#quietUntil = now + STORE_PAUSE_MS;
      if (now - this.#warnedAt >= 60_000) {
        this.#warnedAt = now;
        this.#log.warn({ err: (err as Error).message }, 'budget notification: the store did not answer; will retry');
      }
      return;
    }
    this.#known.add(doc._id);
    if (this.#known.size > MAX_REMEMBERED) this.#known.delete(this.#known.values().next().value as string);
    if (mine) this.#send(doc);
  }

  #send(doc: BudgetNotificationDoc): void {
    const { scope, share, budget, spent_usd } = doc;
    const percent = Math.round(share * 100);
    this.#log.info(
      {
        scope: scope.kind,
        [scope.kind]: scope.name,
        share,
        budget_usd: budget.usd,
        period: budget.period,
        spent_usd,
        resets_at: doc.resets_at.toISOString(),
      },
      `budget notification: ${scope.kind} ${scope.name} reached ${percent}% of ${describeBudget(budget)} (${formatUsd(spent_usd)} spent)`,
    );
    this.#metrics.budgetNotifications.labels(String(share)).inc();
    const url = this.#config().budgets.webhook;
    if (url) this.#webhook.send(url, webhookBody(doc));
  }
}

/** What `budgets.webhook` receives: one JSON object per notification (README "Teams"). */
export function webhookBody(doc: BudgetNotificationDoc) {
  return {
    type: 'budget_notification',
    id: doc._id,
    scope: doc.scope,
    share: doc.share,
    budget: doc.budget,
    spent_usd: doc.spent_usd,
    period_start: doc.period_start.toISOString(),
    resets_at: doc.resets_at.toISOString(),
    created_at: doc.created_at.toISOString(),
  };
}
