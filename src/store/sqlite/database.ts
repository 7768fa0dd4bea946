import { DatabaseSync } from 'node:sqlite';
import type { CollectionName } from '../store.ts';
import { EmbeddedAudit } from './audit.ts';
import { EmbeddedChain } from './chain.ts';
import { EmbeddedCredentials } from './credentials.ts';
import { Details } from './details.ts';
import { EmbeddedDocuments } from './documents.ts';
import { EmbeddedIdentity } from './identity.ts';
import { EmbeddedLeases } from './leases.ts';
import { EmbeddedNotifications } from './notifications.ts';
import { EmbeddedPageParts } from './page-parts.ts';
import type { SyncStore } from './protocol.ts';
import { EmbeddedProviderKeys } from './provider-keys.ts';
import { EmbeddedQuotas } from './quotas.ts';
import { EmbeddedRecords } from './records.ts';
import { ROLLUP_BACKFILL } from './rollup.ts';
import { addedColumns, indexStatements, SCHEMA_VERSION, TABLES, tableStatements } from './schema.ts';
import { rollBack, Sql } from './sql.ts';
import { EmbeddedTeams } from './teams.ts';

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
    for (const statement of tableStatements()) db.exec(statement);
    for (const name of Object.keys(TABLES) as CollectionName[]) {
      const present = new Set(
        (db.prepare(`PRAGMA table_info(${name})`).all() as Array<{ name: string }>).map((c) => c.name),
      );
      for (const statement of addedColumns(name, present)) db.exec(statement);
    }
    for (const statement of indexStatements()) db.exec(statement);
    if (now < 2) db.exec(ROLLUP_BACKFILL); // usage_days came with schema 2
    if (now < 3) db.exec('DROP TABLE IF EXISTS rate_windows'); // shared rate counts became quota ledgers
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    rollBack(db);
    throw err;
  }
}

/**
 * Every store operation over one SQLite connection, synchronously: one object per sub-store,
 * sharing the connection's prepared statements. The server runs these in worker threads (so
 * the event loop never waits on SQLite); admin commands call them directly.
 */
export class EmbeddedDatabase implements SyncStore {
  readonly db: DatabaseSync;
  readonly records: EmbeddedRecords;
  readonly audit: EmbeddedAudit;
  readonly identity: EmbeddedIdentity;
  readonly credentials: EmbeddedCredentials;
  readonly teams: EmbeddedTeams;
  readonly notifications: EmbeddedNotifications;
  readonly providerKeys: EmbeddedProviderKeys;
  readonly leases: EmbeddedLeases;
  readonly quotas: EmbeddedQuotas;
  readonly documents: EmbeddedDocuments;
  readonly chain: EmbeddedChain;
  readonly pages: EmbeddedPageParts;

  constructor(db: DatabaseSync) {
    this.db = db;
    const sql = new Sql(db);
    this.identity = new EmbeddedIdentity(sql);
    const details = new Details(sql, this.identity);
    this.records = new EmbeddedRecords(sql);
    this.audit = new EmbeddedAudit(sql, details);
    this.credentials = new EmbeddedCredentials(sql);
    this.teams = new EmbeddedTeams(sql);
    this.notifications = new EmbeddedNotifications(sql);
    this.providerKeys = new EmbeddedProviderKeys(sql);
    this.leases = new EmbeddedLeases(sql);
    this.quotas = new EmbeddedQuotas(sql);
    this.documents = new EmbeddedDocuments(sql);
    this.chain = new EmbeddedChain(sql);
    this.pages = new EmbeddedPageParts(sql, details);
  }

  close(): void {
    this.db.close();
  }
}
