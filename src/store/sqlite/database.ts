import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { present } from '../../audit/present.ts';
import { decodeOp } from '../../recorder/codec.ts';
import type {
  InterceptionEnd,
  InterceptionRecord,
  ModelThoughtRecord,
  RecordOp,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../../recorder/records.ts';
import {
  type ApiKeyDoc,
  type AuditStore,
  CHILD_COLLECTION_OF,
  CHILD_COLLECTIONS,
  COLLECTIONS,
  type CollectionName,
  type CredentialDoc,
  type CredentialStore,
  type Cursor,
  DAY_MS,
  type DocumentSink,
  type DocumentSource,
  DuplicateError,
  type IdentityStore,
  type InterceptionDetail,
  type InterceptionFilter,
  type LeaseStore,
  type PageRequest,
  type PurgeBatch,
  type RateStore,
  type RecordStore,
  type SessionSummary,
  type ToolSummary,
  type UsageGroup,
  type UsageKey,
  type UserDoc,
} from '../store.ts';
import { decode, decodeAll, encode, rowShape, toRow } from './documents.ts';
import { type SqlValue, where } from './filter.ts';
import { ROLLUP_BACKFILL, ROLLUP_PRUNE } from './rollup.ts';
import { createStatements, SCHEMA_VERSION } from './schema.ts';
import { countInterceptions, summarizeUsage } from './usage.ts';

/** The store interface with every method synchronous: what one SQLite connection does. */
type Sync<T> = {
  [K in keyof T]: NonNullable<T[K]> extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};
interface SyncStore {
  rates: Sync<RateStore>;
  records: Sync<RecordStore>;
  audit: Sync<AuditStore>;
  identity: Sync<IdentityStore>;
  credentials: Sync<CredentialStore>;
  leases: Sync<LeaseStore>;
  documents: Sync<DocumentSource & DocumentSink>;
}

type Row = Record<string, SqlValue>;

const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

/** Opens (creating if needed) the file with the pragmas every connection uses. */
export function openDatabase(file: string): DatabaseSync {
  const db = new DatabaseSync(file, { timeout: 10_000 });
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA temp_store = MEMORY;
    PRAGMA cache_size = -32768;
    PRAGMA wal_autocheckpoint = 4000;
    PRAGMA mmap_size = 268435456;
  `);
  return db;
}

/** Creates tables and indexes; safe on every start and from several processes. */
export function migrate(db: DatabaseSync): void {
  const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
  if (version > SCHEMA_VERSION) {
    throw new Error(`the embedded store was written by a newer aibridge (schema ${version} > ${SCHEMA_VERSION})`);
  }
  if (version === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    // Another process may have upgraded the file while this one waited for the lock.
    const { user_version: now } = db.prepare('PRAGMA user_version').get() as { user_version: number };
    if (now === SCHEMA_VERSION) {
      db.exec('COMMIT');
      return;
    }
    for (const statement of createStatements()) db.exec(statement);
    if (now < 2) db.exec(ROLLUP_BACKFILL); // usage_days came with schema 2
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    rollBack(db);
    throw err;
  }
}

/**
 * Ends a failed transaction, if SQLite has not already: on SQLITE_FULL, IOERR, BUSY or NOMEM it
 * may roll back by itself, and a ROLLBACK then throws "no transaction is active" — which must
 * never take the place of the error that caused it (the recorder tells a full disk by its code).
 */
function rollBack(db: DatabaseSync): void {
  if (!db.isTransaction) return;
  try {
    db.exec('ROLLBACK');
  } catch {
    // The connection's state is SQLite's to sort out; the caller rethrows the original error.
  }
}

const isUnique = (err: unknown) => {
  const code = (err as { errcode?: number }).errcode;
  return code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY;
};

/**
 * Every store operation over one SQLite connection, synchronously. The server runs these in
 * worker threads (so the event loop never waits on SQLite); admin commands call them directly.
 */
export class EmbeddedDatabase implements SyncStore {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  close(): void {
    this.db.close();
  }

  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  #all(text: string, params: SqlValue[] = []): Row[] {
    return this.#sql(text).all(...params) as Row[];
  }

  #get(text: string, params: SqlValue[] = []): Row | undefined {
    return this.#sql(text).get(...params) as Row | undefined;
  }

  readonly #query = (text: string, params: SqlValue[]): Row[] => this.#all(text, params);

  /** Several reads as of one moment (a count adds whole days to partial ones: no write between). */
  #snapshot<T>(read: () => T): T {
    if (this.db.isTransaction) return read();
    this.db.exec('BEGIN');
    try {
      return read();
    } finally {
      this.db.exec('COMMIT');
    }
  }

  #run(text: string, params: SqlValue[] = []): number {
    return Number(this.#sql(text).run(...params).changes);
  }

  #transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      rollBack(this.db);
      throw err;
    }
  }

  #insert(collection: CollectionName, doc: { _id: string }, ignoreExisting = true): number {
    const verb = ignoreExisting ? 'INSERT OR IGNORE' : 'INSERT';
    const { columns, placeholders } = rowShape(collection);
    return this.#run(`${verb} INTO ${collection} (${columns}) VALUES (${placeholders})`, toRow(collection, doc));
  }

  #find<T>(collection: CollectionName, id: string): T | null {
    const row = this.#get(`SELECT doc FROM ${collection} WHERE id = ?`, [id]);
    return row ? decode<T>(collection, row.doc as string) : null;
  }

  #replace(collection: CollectionName, doc: { _id: string }): void {
    const [id, text, ...values] = toRow(collection, doc);
    this.#run(`UPDATE ${collection} SET ${rowShape(collection).assignments} WHERE id = ?`, [
      text ?? null,
      ...values,
      id ?? null,
    ]);
  }

  /** Closes an interception: end fields set, metadata merged key by key (as MongoDB's $set of metadata.k). */
  #end(id: string, end: InterceptionEnd): void {
    const doc = this.#find<InterceptionRecord>(COLLECTIONS.interceptions, id);
    if (!doc) return; // its start never reached the store; nothing to attach the end to
    doc.ended_at = end.ended_at;
    doc.status = end.status;
    doc.cost_usd = end.cost_usd;
    doc.totals = end.totals;
    if (end.metadata) doc.metadata = { ...doc.metadata, ...end.metadata };
    this.#replace(COLLECTIONS.interceptions, doc);
  }

  #idList(ids: readonly string[]): string {
    return JSON.stringify(ids);
  }

  // ---- records -------------------------------------------------------------------------

  readonly records: Sync<RecordStore> = {
    writeLines: (lines: string[]) => this.records.write(lines.map(decodeOp)),

    write: (ops: RecordOp[]) =>
      this.#transaction(() => {
        for (const op of ops) {
          if (op.kind === 'interception_ended') {
            this.#end(op.id, op);
          } else if (op.kind === 'interception') {
            const inserted = this.#insert(COLLECTIONS.interceptions, op.doc);
            if (!inserted && op.doc.ended_at && op.doc.status) {
              const { ended_at, status, cost_usd, totals, metadata } = op.doc;
              this.#end(op.doc._id, { ended_at, status, cost_usd, totals: totals ?? emptyTotals(), metadata });
            }
          } else {
            this.#insert(CHILD_COLLECTION_OF[op.kind], op.doc);
          }
        }
      }),

    purge: (cutoff: Date, limit: number): PurgeBatch =>
      this.#transaction(() => {
        const ids = this.#all('SELECT id FROM interceptions WHERE started_at < ? LIMIT ?', [
          cutoff.getTime(),
          limit,
        ]).map((r) => r.id as string);
        const batch: PurgeBatch = { interceptions: 0, children: {} };
        const list = this.#idList(ids);
        for (const name of CHILD_COLLECTIONS) {
          batch.children[name] = ids.length
            ? this.#run(`DELETE FROM ${name} WHERE interception_id IN (SELECT value FROM json_each(?))`, [list])
            : 0;
        }
        if (ids.length) {
          batch.interceptions = this.#run('DELETE FROM interceptions WHERE id IN (SELECT value FROM json_each(?))', [
            list,
          ]);
          this.#run(ROLLUP_PRUNE, [Math.floor(cutoff.getTime() / DAY_MS)]); // days summed down to nothing
        }
        return batch;
      }),
  };

  // ---- audit ---------------------------------------------------------------------------

  #children<T extends { interception_id: string }>(collection: CollectionName, list: string): Map<string, T[]> {
    const groups = new Map<string, T[]>();
    const rows = this.#all(
      `SELECT doc FROM ${collection} WHERE interception_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id`,
      [list],
    );
    for (const doc of decodeAll<T>(collection, rows)) {
      const group = groups.get(doc.interception_id);
      if (group) group.push(doc);
      else groups.set(doc.interception_id, [doc]);
    }
    return groups;
  }

  #expand(rows: Row[]): InterceptionDetail[] {
    const interceptions = decodeAll<InterceptionRecord>(COLLECTIONS.interceptions, rows);
    if (!interceptions.length) return [];
    const list = this.#idList(interceptions.map((i) => i._id));
    const prompts = this.#children<UserPromptRecord>(COLLECTIONS.userPrompts, list);
    const tokens = this.#children<TokenUsageRecord>(COLLECTIONS.tokenUsages, list);
    const tools = this.#children<ToolUsageRecord>(COLLECTIONS.toolUsages, list);
    const thoughts = this.#children<ModelThoughtRecord>(COLLECTIONS.modelThoughts, list);
    const users = new Map(
      this.identity.usersByIds([...new Set(interceptions.map((i) => i.initiator_id))]).map((u) => [u._id, u]),
    );
    return interceptions.map((interception) => {
      const user = users.get(interception.initiator_id);
      const id = interception._id;
      return {
        interception,
        initiator: user ? { username: user.username, name: user.name } : null,
        user_prompts: prompts.get(id) ?? [],
        token_usages: tokens.get(id) ?? [],
        tool_usages: tools.get(id) ?? [],
        model_thoughts: thoughts.get(id) ?? [],
      };
    });
  }

  #page(columns: 'doc' | 'id, started_at', filter: InterceptionFilter, page: PageRequest): Row[] {
    const w = where(filter, page.after);
    return this.#all(
      `SELECT ${columns} FROM interceptions ${w.sql} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`,
      [...w.params, page.limit, page.offset ?? 0],
    );
  }

  /** A page picked first and rendered in parts, by whichever connections are free (see pages.ts). */
  readonly pages = {
    /** The page's ids, and its last row as the cursor of the page after it. */
    ids: (filter: InterceptionFilter, page: PageRequest): { ids: string[]; last: Cursor | null } => {
      const rows = this.#page('id, started_at', filter, page);
      const last = rows.at(-1);
      return {
        ids: rows.map((row) => row.id as string),
        last: last ? { _id: last.id as string, started_at: new Date(last.started_at as number) } : null,
      };
    },

    /** These interceptions, in this order, as the audit API's JSON array. */
    json: (ids: string[]): string => {
      const rows = this.#all('SELECT id, doc FROM interceptions WHERE id IN (SELECT value FROM json_each(?))', [
        this.#idList(ids),
      ]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      const ordered = ids.map((id) => byId.get(id)).filter((row) => row !== undefined);
      return JSON.stringify(this.#expand(ordered).map(present));
    },
  };

  readonly audit: Sync<AuditStore> = {
    cursor: (filter: InterceptionFilter, id: string): Cursor | null => {
      const w = where(filter, undefined, ['id = ?']);
      const row = this.#get(`SELECT started_at FROM interceptions ${w.sql}`, [id, ...w.params]);
      return row ? { _id: id, started_at: new Date(row.started_at as number) } : null;
    },

    list: (filter: InterceptionFilter, page: PageRequest): InterceptionDetail[] =>
      this.#expand(this.#page('doc', filter, page)),

    listJson: (filter: InterceptionFilter, page: PageRequest): string =>
      JSON.stringify(this.audit.list(filter, page).map(present)),

    count: (filter: InterceptionFilter): number => this.#snapshot(() => countInterceptions(this.#query, filter)),

    get: (filter: InterceptionFilter, id: string): InterceptionDetail | null => {
      const w = where(filter, undefined, ['id = ?']);
      return this.#expand(this.#all(`SELECT doc FROM interceptions ${w.sql}`, [id, ...w.params]))[0] ?? null;
    },

    distinct: (field: 'model' | 'client', filter: InterceptionFilter): string[] => {
      const w = where(filter, undefined, [`${field} <> ''`]);
      return this.#all(`SELECT DISTINCT ${field} AS v FROM interceptions ${w.sql} ORDER BY v`, w.params).map(
        (r) => r.v as string,
      );
    },

    usage: (filter: InterceptionFilter, groupBy: readonly UsageKey[]): UsageGroup[] =>
      this.#snapshot(() => summarizeUsage(this.#query, filter, groupBy)),

    sessions: (filter: InterceptionFilter, page: { limit: number; offset?: number }): SessionSummary[] => {
      const w = where(filter, undefined, ['client_session_id IS NOT NULL']);
      const rows = this.#all(
        `SELECT client_session_id, initiator_id, max(client) AS client, min(started_at) AS first_started_at,
           max(started_at) AS last_started_at, count(*) AS interceptions, total(input_tokens) AS input_tokens,
           total(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
         FROM interceptions ${w.sql}
         GROUP BY client_session_id, initiator_id
         ORDER BY last_started_at DESC, client_session_id DESC LIMIT ? OFFSET ?`,
        [...w.params, page.limit, page.offset ?? 0],
      );
      return rows.map((r) => ({
        client_session_id: r.client_session_id as string,
        initiator_id: r.initiator_id as string,
        client: r.client as string,
        first_started_at: new Date(r.first_started_at as number),
        last_started_at: new Date(r.last_started_at as number),
        interceptions: r.interceptions as number,
        input_tokens: r.input_tokens as number,
        output_tokens: r.output_tokens as number,
        cost_usd: r.cost_usd as number | null,
      }));
    },

    tools: (filter: InterceptionFilter, limit: number): ToolSummary[] => {
      const w = where(filter);
      const rows = this.#all(
        `SELECT doc ->> '$.tool' AS tool, doc ->> '$.server_url' AS server_url, doc ->> '$.injected' AS injected,
           count(*) AS calls, total(doc ->> '$.invocation_error' IS NOT NULL) AS failed,
           total(doc ->> '$.duration_ms') AS duration_ms, count(doc ->> '$.duration_ms') AS timed
         FROM tool_usages WHERE interception_id IN (SELECT id FROM interceptions ${w.sql})
         GROUP BY 1, 2, 3 ORDER BY calls DESC, tool LIMIT ?`,
        [...w.params, limit],
      );
      return rows.map((r) => ({
        tool: r.tool as string,
        server_url: (r.server_url as string | null) ?? null,
        injected: r.injected === 1,
        calls: r.calls as number,
        failed: r.failed as number,
        duration_ms: r.duration_ms as number,
        timed: r.timed as number,
      }));
    },

    spend: (userId: string, since: Date): number =>
      // From `since` on, inclusive; unpriced interceptions add nothing.
      this.audit.usage({ initiator_id: userId, started_after: new Date(since.getTime() - 1) }, [])[0]?.cost_usd ?? 0,
  };

  // ---- identity ------------------------------------------------------------------------

  readonly identity: Sync<IdentityStore> = {
    createUser: (user: UserDoc) => {
      try {
        this.#insert(COLLECTIONS.users, user, false);
      } catch (err) {
        if (isUnique(err)) throw new DuplicateError(`user "${user.username}" already exists`);
        throw err;
      }
    },
    users: (options?: { includeDeleted?: boolean }): UserDoc[] => {
      const rows = this.#all(
        `SELECT doc FROM users ${options?.includeDeleted ? '' : "WHERE doc ->> '$.deleted_at' IS NULL"} ORDER BY username`,
      );
      return decodeAll<UserDoc>(COLLECTIONS.users, rows);
    },
    countUsers: () => this.#get('SELECT count(*) AS n FROM users')?.n as number,
    userById: (id: string) => this.#find<UserDoc>(COLLECTIONS.users, id),
    userByUsername: (username: string) => {
      const row = this.#get('SELECT doc FROM users WHERE username = ?', [username]);
      return row ? decode<UserDoc>(COLLECTIONS.users, row.doc as string) : null;
    },
    usersByIds: (ids: readonly string[]) =>
      ids.length
        ? decodeAll<UserDoc>(
            COLLECTIONS.users,
            this.#all('SELECT doc FROM users WHERE id IN (SELECT value FROM json_each(?))', [this.#idList(ids)]),
          )
        : [],
    updateUser: (id, patch) =>
      this.#transaction(() => {
        const user = this.#find<UserDoc>(COLLECTIONS.users, id);
        if (!user) return false;
        this.#replace(COLLECTIONS.users, { ...user, ...patch });
        return true;
      }),
    createKey: (key: ApiKeyDoc) => {
      try {
        this.#insert(COLLECTIONS.apiKeys, key, false);
      } catch (err) {
        if (isUnique(err)) throw new DuplicateError('a token with this id or hash already exists');
        throw err;
      }
    },
    keyByHash: (hash: string) => {
      const row = this.#get('SELECT doc FROM api_keys WHERE hash = ?', [hash]);
      return row ? decode<ApiKeyDoc>(COLLECTIONS.apiKeys, row.doc as string) : null;
    },
    keyById: (id: string) => this.#find<ApiKeyDoc>(COLLECTIONS.apiKeys, id),
    keys: (userId?: string) =>
      decodeAll<ApiKeyDoc>(
        COLLECTIONS.apiKeys,
        userId
          ? this.#all("SELECT doc FROM api_keys WHERE user_id = ? ORDER BY doc ->> '$.created_at', id", [userId])
          : this.#all("SELECT doc FROM api_keys ORDER BY user_id, doc ->> '$.created_at', id"),
      ),
    revokeKeys: (ids: readonly string[], at: Date) =>
      this.#run(
        `UPDATE api_keys SET doc = json_set(doc, '$.revoked_at', ?)
         WHERE id IN (SELECT value FROM json_each(?)) AND doc ->> '$.revoked_at' IS NULL`,
        [at.getTime(), this.#idList(ids)],
      ),
    touchKeys: (lastUsed) =>
      this.#transaction(() => {
        for (const [id, at] of lastUsed) {
          this.#run(
            `UPDATE api_keys SET doc = json_set(doc, '$.last_used_at', ?1)
             WHERE id = ?2 AND coalesce(doc ->> '$.last_used_at', 0) < ?1`,
            [at.getTime(), id],
          );
        }
      }),
    pruneKeys: (before: Date) =>
      this.#run(
        `DELETE FROM api_keys WHERE kind = 'console'
           AND (expires_at < ?1 OR coalesce(doc ->> '$.revoked_at', ?1) < ?1)`,
        [before.getTime()],
      ),
  };

  // ---- MCP credentials -----------------------------------------------------------------

  readonly credentials: Sync<CredentialStore> = {
    upsert: (doc: CredentialDoc) => {
      // The row keeps its first _id and created_at; everything else is the new document.
      const { columns, placeholders } = rowShape(COLLECTIONS.mcpCredentials);
      this.#run(
        `INSERT INTO mcp_credentials (${columns}) VALUES (${placeholders})
         ON CONFLICT (user_id, server) DO UPDATE
           SET doc = json_set(excluded.doc, '$._id', doc ->> '$._id', '$.created_at', doc -> '$.created_at')`,
        toRow(COLLECTIONS.mcpCredentials, doc),
      );
    },
    get: (userId: string, server: string) => {
      const row = this.#get('SELECT doc FROM mcp_credentials WHERE user_id = ? AND server = ?', [userId, server]);
      return row ? decode<CredentialDoc>(COLLECTIONS.mcpCredentials, row.doc as string) : null;
    },
    list: (userId?: string) =>
      decodeAll<CredentialDoc>(
        COLLECTIONS.mcpCredentials,
        userId
          ? this.#all('SELECT doc FROM mcp_credentials WHERE user_id = ? ORDER BY server', [userId])
          : this.#all('SELECT doc FROM mcp_credentials ORDER BY user_id, server'),
      ),
    delete: (userId: string, server: string) =>
      this.#run('DELETE FROM mcp_credentials WHERE user_id = ? AND server = ?', [userId, server]) === 1,
    deleteForUser: (userId: string) => this.#run('DELETE FROM mcp_credentials WHERE user_id = ?', [userId]),
  };

  // ---- leases --------------------------------------------------------------------------

  readonly leases: Sync<LeaseStore> = {
    acquire: (name: string, holder: string, ms: number, now = new Date()) =>
      this.#run(
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
      ) === 1,
    release: (name: string, holder: string) => {
      this.#run(`UPDATE leases SET doc = json_set(doc, '$.until', 0), until = 0 WHERE id = ? AND holder = ?`, [
        name,
        holder,
      ]);
    },
  };

  // ---- rate windows --------------------------------------------------------------------

  readonly rates: Sync<RateStore> = {
    publish: (holder: string, window: number, counts: Record<string, number>) => {
      const { columns, placeholders } = rowShape(COLLECTIONS.rateWindows);
      this.#run(
        `INSERT OR REPLACE INTO rate_windows (${columns}) VALUES (${placeholders})`,
        toRow(COLLECTIONS.rateWindows, { _id: `${holder}|${window}`, holder, window, counts } as { _id: string }),
      );
    },
    others: (holder: string, window: number) => {
      const sums: Record<string, number> = {};
      for (const row of this.#all('SELECT doc FROM rate_windows WHERE window = ? AND holder <> ?', [window, holder])) {
        const { counts } = JSON.parse(row.doc as string) as { counts: Record<string, number> };
        for (const [key, n] of Object.entries(counts)) sums[key] = (sums[key] ?? 0) + n;
      }
      return sums;
    },
    prune: (window: number) => {
      this.#run('DELETE FROM rate_windows WHERE window < ?', [window]);
    },
  };

  // ---- documents (migrate) -------------------------------------------------------------

  readonly documents: Sync<DocumentSource & DocumentSink> = {
    scan: (collection: CollectionName, afterId: string | null, limit: number) =>
      decodeAll<{ _id: string }>(
        collection,
        this.#all(`SELECT doc FROM ${collection} WHERE id > ? ORDER BY id LIMIT ?`, [afterId ?? '', limit]),
      ),
    estimate: (collection: CollectionName) => this.#get(`SELECT count(*) AS n FROM ${collection}`)?.n as number,
    insertNew: (collection: CollectionName, docs: ReadonlyArray<{ _id: string }>) =>
      this.#transaction(() => docs.reduce((n, doc) => n + this.#insert(collection, doc), 0)),
  };
}

const emptyTotals = () => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_write_input_tokens: 0,
  tool_calls: 0,
});
