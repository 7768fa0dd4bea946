import { COLLECTIONS } from '../store.ts';
import type { Sync } from './protocol.ts';
import { rowShape, toRow } from './rows.ts';
import type { Sql } from './sql.ts';

/** Per-user request counts per replica and minute window. */
export class EmbeddedRates implements Sync<'rates'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  publish(holder: string, window: number, counts: Record<string, number>): void {
    const { columns, placeholders } = rowShape(COLLECTIONS.rateWindows);
    this.#sql.run(
      `INSERT OR REPLACE INTO rate_windows (${columns}) VALUES (${placeholders})`,
      toRow(COLLECTIONS.rateWindows, { _id: `${holder}|${window}`, holder, window, counts } as { _id: string }),
    );
  }

  others(holder: string, window: number): Record<string, number> {
    const sums: Record<string, number> = {};
    for (const row of this.#sql.all('SELECT doc FROM rate_windows WHERE window = ? AND holder <> ?', [
      window,
      holder,
    ])) {
      const { counts } = JSON.parse(row.doc as string) as { counts: Record<string, number> };
      for (const [key, n] of Object.entries(counts)) sums[key] = (sums[key] ?? 0) + n;
    }
    return sums;
  }

  prune(window: number): void {
    this.#sql.run('DELETE FROM rate_windows WHERE window < ?', [window]);
  }
}
