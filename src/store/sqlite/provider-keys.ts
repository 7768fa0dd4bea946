import { COLLECTIONS, type ProviderKeyDoc } from '../store.ts';
import type { Sync } from './protocol.ts';
import { decode, decodeAll, rowShape, toRow } from './rows.ts';
import type { Sql } from './sql.ts';

/** Users' own provider keys, sealed, one row per (user, provider). */
export class EmbeddedProviderKeys implements Sync<'providerKeys'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  upsert(doc: ProviderKeyDoc): void {
    // The row keeps its first _id and created_at; everything else is the new document.
    const { columns, placeholders } = rowShape(COLLECTIONS.providerKeys);
    this.#sql.run(
      `INSERT INTO provider_keys (${columns}) VALUES (${placeholders})
         ON CONFLICT (user_id, provider) DO UPDATE
           SET doc = json_set(excluded.doc, '$._id', doc ->> '$._id', '$.created_at', doc -> '$.created_at')`,
      toRow(COLLECTIONS.providerKeys, doc),
    );
  }

  get(userId: string, provider: string): ProviderKeyDoc | null {
    const row = this.#sql.get('SELECT doc FROM provider_keys WHERE user_id = ? AND provider = ?', [userId, provider]);
    return row ? decode<ProviderKeyDoc>(COLLECTIONS.providerKeys, row.doc as string) : null;
  }

  list(userId?: string): ProviderKeyDoc[] {
    return decodeAll<ProviderKeyDoc>(
      COLLECTIONS.providerKeys,
      userId
        ? this.#sql.all('SELECT doc FROM provider_keys WHERE user_id = ? ORDER BY provider', [userId])
        : this.#sql.all('SELECT doc FROM provider_keys ORDER BY user_id, provider'),
    );
  }

  delete(userId: string, provider: string): boolean {
    return this.#sql.run('DELETE FROM provider_keys WHERE user_id = ? AND provider = ?', [userId, provider]) === 1;
  }

  deleteForUser(userId: string): number {
    return this.#sql.run('DELETE FROM provider_keys WHERE user_id = ?', [userId]);
  }
}
