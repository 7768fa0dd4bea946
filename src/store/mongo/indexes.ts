import type { Db, IndexDescription } from 'mongodb';
import { CHILD_COLLECTIONS, COLLECTIONS, RECORD_COLLECTIONS, timeFieldOf } from '../store.ts';

const PAGE_ORDER = { started_at: -1, _id: -1 } as const;

/**
 * Every index the product's queries use, each with the plan it is for. Audit pages sort by
 * (started_at desc, _id desc), so each audit filter key leads a compound index that ends in
 * that order: a filtered first page is an IXSCAN over one key range that stops after `limit`
 * documents (no in-memory SORT stage), and a deep `after_id` page starts mid-range.
 */
const INDEXES: Record<string, IndexDescription[]> = {
  [COLLECTIONS.users]: [{ key: { username: 1 }, name: 'username_unique', unique: true }],
  [COLLECTIONS.apiKeys]: [
    // Token lookup on every cache miss: IXSCAN hash_unique → one FETCH.
    { key: { hash: 1 }, name: 'hash_unique', unique: true },
    // tokens list USER: IXSCAN user_id.
    { key: { user_id: 1 }, name: 'user_id' },
  ],
  [COLLECTIONS.interceptions]: [
    // No filter, or only a time range: IXSCAN audit_started (backward-compatible bounds on started_at).
    { key: PAGE_ORDER, name: 'audit_started' },
    // initiator:X (every member's own view; budgets' spend): IXSCAN audit_initiator, equality + range.
    { key: { initiator_id: 1, ...PAGE_ORDER }, name: 'audit_initiator' },
    // provider:, provider_name:, model:, client:, session:, status: — IXSCAN on the key's index;
    // a second equality key (e.g. provider + client) is a FETCH filter over that range.
    ...(['provider', 'provider_name', 'model', 'client', 'client_session_id', 'status'] as const).map((key) => ({
      key: { [key]: 1, ...PAGE_ORDER },
      name: `audit_${key}`,
    })),
    // tool:NAME — the names an interception's calls used, kept on it when it ends (multikey).
    { key: { 'totals.tools': 1, ...PAGE_ORDER }, name: 'audit_tool' },
  ],
  // A page's children: IXSCAN interception_created with $in over the page's ids, already in created_at order.
  ...Object.fromEntries(
    CHILD_COLLECTIONS.map((name) => [
      name,
      [{ key: { interception_id: 1, created_at: 1 }, name: 'interception_created' }],
    ]),
  ),
  // A client tool's result finds its call: IXSCAN initiator_call, newest first, limit 1.
  [COLLECTIONS.toolUsages]: [
    { key: { interception_id: 1, created_at: 1 }, name: 'interception_created' },
    { key: { initiator_id: 1, tool_call_id: 1, created_at: -1 }, name: 'initiator_call' },
  ],
  // An interception's context by its session, or (without one) by itself; q repo:, branch:; retention.
  [COLLECTIONS.workContexts]: [
    { key: { initiator_id: 1, client_session_id: 1 }, name: 'session' },
    { key: { interception_id: 1 }, name: 'interception' },
    { key: { repo: 1 }, name: 'repo' },
    { key: { branch: 1 }, name: 'branch' },
    { key: { updated_at: 1 }, name: 'updated' },
  ],
  [COLLECTIONS.mcpCredentials]: [{ key: { user_id: 1, server: 1 }, name: 'user_server', unique: true }],
  // Team names are unique as compared (lower case); memberships are found by team and by user.
  [COLLECTIONS.teams]: [{ key: { name_key: 1 }, name: 'name_key_unique', unique: true }],
  [COLLECTIONS.teamMembers]: [
    { key: { team_id: 1 }, name: 'team_id' },
    { key: { user_id: 1 }, name: 'user_id' },
  ],
  // A user's or team's current notifications (the console's banner).
  [COLLECTIONS.budgetNotifications]: [{ key: { 'scope.id': 1, resets_at: 1 }, name: 'scope_resets' }],
  [COLLECTIONS.providerKeys]: [{ key: { user_id: 1, provider: 1 }, name: 'user_provider', unique: true }],
  // Idle ledgers are pruned by their last use; a ledger's versions are found by _id range.
  [COLLECTIONS.quotaLedgers]: [{ key: { until: 1 }, name: 'until' }],
  // Steps a record left: verify's walk (IXSCAN steps); retention drops those of a purged record.
  [COLLECTIONS.chainLinks]: [
    { key: { chain: 1, seq: 1 }, name: 'steps' },
    { key: { record_id: 1 }, name: 'record' },
  ],
};

// A chain's steps in seq order (verify, IXSCAN chain_steps); with the record's date, records in
// no chain since a time (chain and seq null, then the date's range).
for (const collection of RECORD_COLLECTIONS) {
  INDEXES[collection] = [
    ...(INDEXES[collection] ?? []),
    { key: { chain: 1, seq: 1, [timeFieldOf(collection)]: 1 }, name: 'chain_steps' },
  ];
}

/** Indexes of earlier versions that the ones above replace. */
const LEGACY: Record<string, string[]> = {
  [COLLECTIONS.interceptions]: ['started_at_id', 'initiator_started', 'provider', 'model', 'client'],
};

/**
 * Creates the indexes that are missing and drops the replaced ones; idempotent, so every
 * replica, worker and admin command runs it on opening — reading the present ones first, it
 * asks for nothing once they are all there. One command at a time: FerretDB 1.24 can panic on
 * concurrent index commands against an existing database, and mis-answers createIndexes
 * listing some that exist.
 */
export async function ensureIndexes(db: Db): Promise<void> {
  for (const collection of new Set([...Object.keys(INDEXES), ...Object.keys(LEGACY)])) {
    const present = new Set(
      (
        await db
          .collection(collection)
          .listIndexes()
          .toArray()
          .catch(() => [])
      ).map((index) => index.name as string),
    );
    for (const name of LEGACY[collection] ?? [])
      if (present.has(name))
        await db
          .collection(collection)
          .dropIndex(name)
          .catch(() => {}); // another replica's, maybe
    for (const { key, ...options } of INDEXES[collection] ?? []) {
      if (!present.has(options.name as string)) await db.collection(collection).createIndex(key, options);
    }
  }
}
