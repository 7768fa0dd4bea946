import type { Group, MethodOf } from './protocol.ts';

/** A reader connection (two, the least busy one answers) or the one writer. */
export type Thread = 'reader' | 'writer';

/**
 * Which thread runs each call of the embedded store. The table is keyed by the Store
 * interface (store.ts) and pages.ts's page parts, so it must name every method and nothing
 * else: a method missing here, or named here but not in the interface, does not compile.
 *
 * Adding a store method (or a sub-store): declare it in the interface in store.ts; implement
 * it in mongo/<sub-store>.ts and, synchronously, in sqlite/<sub-store>.ts; give it a row here.
 * `reader` only for a method that never writes and needs nothing a transaction on the writer
 * gives (a read-then-write decision, like a budget reservation or a last-owner check, is a
 * `writer` call). The protocol's names, the worker's dispatch and the store's methods follow
 * from the interface and this table.
 */
export const THREAD_OF: { [G in Group]: { [N in MethodOf<G>]: Thread } } = {
  records: { write: 'writer', writeLines: 'writer', purge: 'writer' },
  audit: {
    cursor: 'reader',
    list: 'reader',
    listJson: 'reader',
    count: 'reader',
    get: 'reader',
    distinct: 'reader',
    usage: 'reader',
    sessions: 'reader',
    tools: 'reader',
    spend: 'reader',
    clientToolCall: 'reader',
  },
  identity: {
    createUser: 'writer',
    users: 'reader',
    countUsers: 'reader',
    userById: 'reader',
    userByUsername: 'reader',
    usersByIds: 'reader',
    updateUser: 'writer',
    createKey: 'writer',
    keyByHash: 'reader',
    keyById: 'reader',
    keys: 'reader',
    revokeKeys: 'writer',
    touchKeys: 'writer',
    pruneKeys: 'writer',
  },
  credentials: { upsert: 'writer', get: 'reader', list: 'reader', delete: 'writer', deleteForUser: 'writer' },
  teams: {
    create: 'writer',
    list: 'reader',
    byId: 'reader',
    byName: 'reader',
    update: 'writer',
    delete: 'writer',
    addMember: 'writer',
    removeMember: 'writer',
    members: 'reader',
  },
  notifications: { claim: 'writer', current: 'reader' },
  providerKeys: { upsert: 'writer', get: 'reader', list: 'reader', delete: 'writer', deleteForUser: 'writer' },
  leases: { acquire: 'writer', release: 'writer' },
  quotas: { grant: 'writer', settle: 'writer', prune: 'writer' },
  documents: { scan: 'reader', estimate: 'reader', insertNew: 'writer' },
  chain: { chains: 'reader', nextChain: 'reader', steps: 'reader', firstSeqSince: 'reader', unchained: 'reader' },
  pages: { ids: 'reader', json: 'reader' },
};

/** The calls a reader runs, by their names on the wire (`audit.list`). */
export const READS: ReadonlySet<string> = new Set(
  Object.entries(THREAD_OF).flatMap(([group, methods]) =>
    Object.entries(methods)
      .filter(([, thread]) => thread === 'reader')
      .map(([name]) => `${group}.${name}`),
  ),
);
