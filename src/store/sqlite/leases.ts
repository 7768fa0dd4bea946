import { COLLECTIONS } from '../store.ts';
import type { Sync } from './protocol.ts';
import { encode } from './rows.ts';
import type { Sql } from './sql.ts';

/** Named leases (one purger at a time): taken in one statement, so the decision is atomic. */
export class EmbeddedLeases implements Sync<'leases'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  acquire(name: string, holder: string, ms: number, now = new Date()): boolean {
    return (
      this.#sql.run(
        `INSERT INTO leases (id, doc, holder, until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, holder = excluded.holder, until = excluded.until
           WHERE leases.until <= ?5 OR leases.holder = ?3`,
        [
          name,
          encode(COLLECTIONS.leases, { _id: name, holder, until: new Date(now.getTime() + ms) }),
          holder,
          now.getTime() + ms,
          now.getTime(),
        ],
      ) === 1
    );
  }

  release(name: string, holder: string): void {
    this.#sql.run(`UPDATE leases SET doc = json_set(doc, '$.until', 0), until = 0 WHERE id = ? AND holder = ?`, [
      name,
      holder,
    ]);
  }
}
