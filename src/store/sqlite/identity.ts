import {
  type ApiKeyDoc,
  COLLECTIONS,
  DuplicateError,
  removesAnOwner,
  type UserDoc,
  type UserPatch,
  type UserUpdate,
} from '../store.ts';
import type { Sync } from './protocol.ts';
import { decode, decodeAll } from './rows.ts';
import { idList, isUnique, type Sql } from './sql.ts';

/**
 * Users and their API keys. Each decision that reads before it writes (a username free in any
 * case, an owner left after a change) runs in one IMMEDIATE transaction: SQLite lets one
 * writer at a time hold the file, whichever process (server or admin command) it is.
 */
export class EmbeddedIdentity implements Sync<'identity'> {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  createUser(user: UserDoc): void {
    this.#sql.transaction(() => {
      if (this.#sql.get('SELECT 1 FROM users WHERE lower(username) = ?', [user.username.toLowerCase()])) {
        throw new DuplicateError(`user "${user.username}" already exists`);
      }
      try {
        this.#sql.insert(COLLECTIONS.users, user, false);
      } catch (err) {
        if (isUnique(err)) throw new DuplicateError(`user "${user.username}" already exists`);
        throw err;
      }
    });
  }

  users(options?: { includeDeleted?: boolean }): UserDoc[] {
    const rows = this.#sql.all(
      `SELECT doc FROM users ${options?.includeDeleted ? '' : "WHERE doc ->> '$.deleted_at' IS NULL"} ORDER BY username`,
    );
    return decodeAll<UserDoc>(COLLECTIONS.users, rows);
  }

  countUsers(): number {
    return this.#sql.get('SELECT count(*) AS n FROM users')?.n as number;
  }

  userById(id: string): UserDoc | null {
    return this.#sql.find<UserDoc>(COLLECTIONS.users, id);
  }

  userByUsername(username: string): UserDoc | null {
    const exact = this.#sql.get('SELECT doc FROM users WHERE username = ?', [username]);
    if (exact) return decode<UserDoc>(COLLECTIONS.users, exact.doc as string);
    const folded = this.#sql.all('SELECT doc FROM users WHERE lower(username) = ? LIMIT 2', [username.toLowerCase()]);
    return folded.length === 1 ? decode<UserDoc>(COLLECTIONS.users, folded[0]?.doc as string) : null;
  }

  usersByIds(ids: readonly string[]): UserDoc[] {
    return ids.length
      ? decodeAll<UserDoc>(
          COLLECTIONS.users,
          this.#sql.all('SELECT doc FROM users WHERE id IN (SELECT value FROM json_each(?))', [idList(ids)]),
        )
      : [];
  }

  updateUser(id: string, patch: UserPatch): UserUpdate {
    return this.#sql.transaction(() => {
      const user = this.#sql.find<UserDoc>(COLLECTIONS.users, id);
      if (!user) return 'no-user';
      if (removesAnOwner(user, patch) && !this.#anotherOwner(id)) return 'last-owner';
      this.#sql.replace(COLLECTIONS.users, { ...user, ...patch });
      return 'updated';
    });
  }

  #anotherOwner(id: string): boolean {
    return (
      this.#sql.get(
        `SELECT 1 FROM users WHERE id <> ? AND doc ->> '$.role' = 'owner'
           AND doc ->> '$.disabled_at' IS NULL AND doc ->> '$.deleted_at' IS NULL LIMIT 1`,
        [id],
      ) !== undefined
    );
  }

  createKey(key: ApiKeyDoc): void {
    try {
      this.#sql.insert(COLLECTIONS.apiKeys, key, false);
    } catch (err) {
      if (isUnique(err)) throw new DuplicateError('a token with this id or hash already exists');
      throw err;
    }
  }

  keyByHash(hash: string): ApiKeyDoc | null {
    const row = this.#sql.get('SELECT doc FROM api_keys WHERE hash = ?', [hash]);
    return row ? decode<ApiKeyDoc>(COLLECTIONS.apiKeys, row.doc as string) : null;
  }

  keyById(id: string): ApiKeyDoc | null {
    return this.#sql.find<ApiKeyDoc>(COLLECTIONS.apiKeys, id);
  }

  keys(userId?: string): ApiKeyDoc[] {
    return decodeAll<ApiKeyDoc>(
      COLLECTIONS.apiKeys,
      userId
        ? this.#sql.all("SELECT doc FROM api_keys WHERE user_id = ? ORDER BY doc ->> '$.created_at', id", [userId])
        : this.#sql.all("SELECT doc FROM api_keys ORDER BY user_id, doc ->> '$.created_at', id"),
    );
  }

  revokeKeys(ids: readonly string[], at: Date): number {
    return this.#sql.run(
      `UPDATE api_keys SET doc = json_set(doc, '$.revoked_at', ?)
         WHERE id IN (SELECT value FROM json_each(?)) AND doc ->> '$.revoked_at' IS NULL`,
      [at.getTime(), idList(ids)],
    );
  }

  touchKeys(lastUsed: ReadonlyArray<readonly [string, Date]>): void {
    this.#sql.transaction(() => {
      for (const [id, at] of lastUsed) {
        this.#sql.run(
          `UPDATE api_keys SET doc = json_set(doc, '$.last_used_at', ?1)
             WHERE id = ?2 AND coalesce(doc ->> '$.last_used_at', 0) < ?1`,
          [at.getTime(), id],
        );
      }
    });
  }

  pruneKeys(before: Date): number {
    return this.#sql.run(
      `DELETE FROM api_keys WHERE kind = 'console'
           AND (expires_at < ?1 OR coalesce(doc ->> '$.revoked_at', ?1) < ?1)`,
      [before.getTime()],
    );
  }
}
