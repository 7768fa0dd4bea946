import { COLLECTIONS, type CredentialDoc } from '../store.ts';
import type { Sync } from './protocol.ts';
import { decode, decodeAll, rowShape, toRow } from './rows.ts';
import type { Sql } from './sql.ts';

/** Per-user MCP headers, one row per (user, server). */
export class EmbeddedCredentials implements Sync<'credentials'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  upsert(doc: CredentialDoc): void {
    // The row keeps its first _id and created_at; everything else is the new document.
    const { columns, placeholders } = rowShape(COLLECTIONS.mcpCredentials);
    this.#sql.run(
      `INSERT INTO mcp_credentials (${columns}) VALUES (${placeholders})
         ON CONFLICT (user_id, server) DO UPDATE
           SET doc = json_set(excluded.doc, '$._id', doc ->> '$._id', '$.created_at', doc -> '$.created_at')`,
      toRow(COLLECTIONS.mcpCredentials, doc),
    );
  }

  get(userId: string, server: string): CredentialDoc | null {
    const row = this.#sql.get('SELECT doc FROM mcp_credentials WHERE user_id = ? AND server = ?', [userId, server]);
    return row ? decode<CredentialDoc>(COLLECTIONS.mcpCredentials, row.doc as string) : null;
  }

  list(userId?: string): CredentialDoc[] {
    return decodeAll<CredentialDoc>(
      COLLECTIONS.mcpCredentials,
      userId
        ? this.#sql.all('SELECT doc FROM mcp_credentials WHERE user_id = ? ORDER BY server', [userId])
        : this.#sql.all('SELECT doc FROM mcp_credentials ORDER BY user_id, server'),
    );
  }

  delete(userId: string, server: string): boolean {
    return this.#sql.run('DELETE FROM mcp_credentials WHERE user_id = ? AND server = ?', [userId, server]) === 1;
  }

  deleteForUser(userId: string): number {
    return this.#sql.run('DELETE FROM mcp_credentials WHERE user_id = ?', [userId]);
  }
}
