import { applyGrant, applySettle, type LedgerState, type QuotaGrant, type QuotaLedger } from '../ledger.ts';
import type { Sync } from './protocol.ts';
import type { Sql } from './sql.ts';

type GrantRequest = Parameters<QuotaLedger['grant']>[0];
type SettleRequest = Parameters<QuotaLedger['settle']>[0];

/**
 * Quota ledgers (limits/quota.ts), one row per scope and period; each step reads and writes
 * its row in one IMMEDIATE transaction, which SQLite serialises across every process on the file.
 */
export class EmbeddedQuotas implements Sync<'quotas'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  grant(request: GrantRequest): QuotaGrant {
    return this.#sql.transaction(() => {
      const { state, grant } = applyGrant(this.#read(request.key), request);
      this.#write(request.key, state, request.expiresAt.getTime());
      return grant;
    });
  }

  settle(request: SettleRequest): number {
    return this.#sql.transaction(() => {
      const current = this.#read(request.key);
      if (!current) return 0;
      const next = applySettle(current, request);
      this.#write(request.key, next, request.expiresAt.getTime());
      return next.spent;
    });
  }

  prune(before: Date): number {
    return this.#sql.run('DELETE FROM quota_ledgers WHERE until < ?', [before.getTime()]);
  }

  #read(key: string): LedgerState | null {
    const row = this.#sql.get('SELECT doc FROM quota_ledgers WHERE id = ?', [key]);
    return row ? (JSON.parse(row.doc as string) as LedgerState) : null;
  }

  /** `until`: the ledger's last use (its holds lapse then); an idle ledger may be forgotten, its spend is recorded. */
  #write(key: string, state: LedgerState, until: number): void {
    this.#sql.run('INSERT OR REPLACE INTO quota_ledgers (id, doc, until) VALUES (?, ?, ?)', [
      key,
      JSON.stringify({ _id: key, ...state, until }),
      until,
    ]);
  }
}
