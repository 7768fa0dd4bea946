import { type Db, MongoClient } from 'mongodb';

export const COLLECTIONS = {
  users: 'users',
  apiKeys: 'api_keys',
  interceptions: 'interceptions',
  userPrompts: 'user_prompts',
  tokenUsages: 'token_usages',
  toolUsages: 'tool_usages',
  modelThoughts: 'model_thoughts',
  mcpCredentials: 'mcp_credentials',
  leases: 'leases',
} as const;

export const CHILD_COLLECTIONS = [
  COLLECTIONS.userPrompts,
  COLLECTIONS.tokenUsages,
  COLLECTIONS.toolUsages,
  COLLECTIONS.modelThoughts,
] as const;

export interface Store {
  client: MongoClient;
  db: Db;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Hides credentials when a URI has to be shown to a person. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]+@/, '//***@');
}

/**
 * Connects with a pooled client that keeps reconnecting on its own; the first
 * ping must succeed within the timeout so a wrong URI fails start-up clearly.
 */
export async function connectStore(uri: string, database: string, timeoutMs = 10_000): Promise<Store> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    maxPoolSize: 20,
    retryWrites: false, // FerretDB has no retryable writes; the recorder retries itself.
  });
  try {
    await client.connect();
    await client.db(database).command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => {});
    throw new Error(`cannot reach MongoDB at ${redactUri(uri)}: ${(err as Error).message}`);
  }
  const db = client.db(database);
  return {
    client,
    db,
    async ping() {
      try {
        await db.command({ ping: 1 }, { timeoutMS: 2_000 });
        return true;
      } catch {
        return false;
      }
    },
    close: () => client.close(),
  };
}

/** Creates the indexes the API and the identity lookups need; safe to run on every start. */
export async function ensureIndexes(db: Db): Promise<void> {
  const c = COLLECTIONS;
  await Promise.all([
    db.collection(c.users).createIndex({ username: 1 }, { unique: true, name: 'username_unique' }),
    db.collection(c.apiKeys).createIndex({ hash: 1 }, { unique: true, name: 'hash_unique' }),
    db.collection(c.apiKeys).createIndex({ user_id: 1 }, { name: 'user_id' }),
    db.collection(c.interceptions).createIndex({ started_at: -1, _id: -1 }, { name: 'started_at_id' }),
    db.collection(c.interceptions).createIndex({ initiator_id: 1, started_at: -1 }, { name: 'initiator_started' }),
    db.collection(c.interceptions).createIndex({ provider: 1 }, { name: 'provider' }),
    db.collection(c.interceptions).createIndex({ model: 1 }, { name: 'model' }),
    db.collection(c.interceptions).createIndex({ client: 1 }, { name: 'client' }),
    ...CHILD_COLLECTIONS.map((name) =>
      db.collection(name).createIndex({ interception_id: 1, created_at: 1 }, { name: 'interception_created' }),
    ),
    db.collection(c.mcpCredentials).createIndex({ user_id: 1, server: 1 }, { unique: true, name: 'user_server' }),
  ]);
}
