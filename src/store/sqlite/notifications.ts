import { type BudgetNotificationDoc, COLLECTIONS } from '../store.ts';
import type { Sync } from './protocol.ts';
import { decodeAll } from './rows.ts';
import { idList, type Sql } from './sql.ts';

/** Budget notifications: a unique id per scope, period and share decides who sends one. */
export class EmbeddedNotifications implements Sync<'notifications'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  claim(doc: BudgetNotificationDoc): boolean {
    return this.#sql.insert(COLLECTIONS.budgetNotifications, doc) === 1;
  }

  current(scopeIds: readonly string[], now: Date): BudgetNotificationDoc[] {
    if (!scopeIds.length) return [];
    return decodeAll<BudgetNotificationDoc>(
      COLLECTIONS.budgetNotifications,
      this.#sql.all(
        `SELECT doc FROM budget_notifications
           WHERE scope_id IN (SELECT value FROM json_each(?)) AND resets_at > ?
           ORDER BY doc ->> '$.created_at' DESC, id DESC`,
        [idList(scopeIds), now.getTime()],
      ),
    );
  }
}
