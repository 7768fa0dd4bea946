import type { Store, SubStoreName } from '../store.ts';
import type { MethodName, MethodOf, Send } from './protocol.ts';
import { THREAD_OF, type Thread } from './threads.ts';

/** Methods a sub-store answers itself instead of sending them (the audit's large pages). */
export type OwnMethods = { [G in SubStoreName]?: Partial<Store[G]> };

/** The embedded Store: each sub-store method sends its call, but for those given in `own`. */
export function facade(send: Send, store: Omit<Store, SubStoreName>, own: OwnMethods = {}): Store {
  return {
    ...store,
    records: subStore(send, 'records', own.records),
    audit: subStore(send, 'audit', own.audit),
    identity: subStore(send, 'identity', own.identity),
    credentials: subStore(send, 'credentials', own.credentials),
    teams: subStore(send, 'teams', own.teams),
    notifications: subStore(send, 'notifications', own.notifications),
    providerKeys: subStore(send, 'providerKeys', own.providerKeys),
    leases: subStore(send, 'leases', own.leases),
    quotas: subStore(send, 'quotas', own.quotas),
    documents: subStore(send, 'documents', own.documents),
    chain: subStore(send, 'chain', own.chain),
  };
}

function subStore<G extends SubStoreName>(send: Send, group: G, own: Partial<Store[G]> = {}): Store[G] {
  const table: Record<MethodOf<G>, Thread> = THREAD_OF[group];
  const methods = {} as Record<MethodOf<G>, (...args: unknown[]) => Promise<unknown>>;
  for (const name of Object.keys(table) as MethodOf<G>[]) {
    const method = `${group}.${name}` as MethodName;
    methods[name] = (...args) => send(method, args);
  }
  // Every method of Store[G]: the thread table has a row for each one, and for nothing else.
  return { ...methods, ...own } as Store[G];
}
