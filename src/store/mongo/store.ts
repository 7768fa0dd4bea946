import { type Db, MongoClient, MongoParseError } from 'mongodb';
import { redactUri, type Store } from '../store.ts';
import { MongoAudit } from './audit.ts';
import { MongoChain } from './chain.ts';
import { MongoCredentials } from './credentials.ts';
import { MongoDocuments } from './documents.ts';
import { isPermanent } from './errors.ts';
import { MongoIdentity } from './identity.ts';
import { ensureIndexes } from './indexes.ts';
import { MongoLeases } from './leases.ts';
import { MongoNotifications } from './notifications.ts';
import { MongoProviderKeys } from './provider-keys.ts';
import { MongoQuotas } from './quotas.ts';
import { MongoRecords } from './records.ts';
import { MongoTeams } from './teams.ts';

/**
 * The MongoDB store: a pooled client that keeps reconnecting on its own; the first ping must
 * succeed within the timeout so a wrong URI fails start-up clearly.
 */
export async function openMongoStore(uri: string, database: string, timeoutMs = 10_000): Promise<Store & { db: Db }> {
  const client = new MongoClient(uri, {
    // While no server answers, operations fail within a second (the API answers 503, the
    // recorder journals and retries) instead of hanging for the usual 30 s.
    serverSelectionTimeoutMS: 1_000,
    connectTimeoutMS: timeoutMs,
    maxPoolSize: 20,
    retryWrites: false, // FerretDB has no retryable writes; the recorder retries itself.
  });
  for (const deadline = Date.now() + timeoutMs; ; ) {
    try {
      await client.db(database).command({ ping: 1 });
      break;
    } catch (err) {
      if (Date.now() < deadline && !(err instanceof MongoParseError)) continue;
      await client.close().catch(() => {});
      throw new Error(`cannot reach MongoDB at ${redactUri(uri)}: ${(err as Error).message}`);
    }
  }
  const db = client.db(database);
  try {
    await ensureIndexes(db);
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  const identity = new MongoIdentity(db);
  return {
    kind: 'mongodb',
    location: `${redactUri(uri)} (database ${database})`,
    db,
    records: new MongoRecords(db),
    audit: new MongoAudit(db, identity),
    identity,
    credentials: new MongoCredentials(db),
    teams: new MongoTeams(db),
    notifications: new MongoNotifications(db),
    providerKeys: new MongoProviderKeys(db),
    leases: new MongoLeases(db),
    quotas: new MongoQuotas(db),
    documents: new MongoDocuments(db),
    chain: new MongoChain(db),
    async ping(timeout = 1_000) {
      try {
        await db.command({ ping: 1 }, { timeoutMS: timeout });
        return true;
      } catch {
        return false;
      }
    },
    isPermanent,
    close: () => client.close(),
  };
}
