import { DuplicateError, type Store, type SubStoreName } from '../store.ts';
import type { PageParts } from './page-parts.ts';
import { THREAD_OF } from './threads.ts';

/**
 * Every group of calls a connection answers: the Store's sub-stores, and the parts a large
 * audit page is rendered in (pages.ts). All names and types below are derived from these
 * interfaces, so the protocol has exactly their methods.
 */
export type Calls = Pick<Store, SubStoreName> & { pages: PageParts };
export type Group = keyof Calls;
/** A group's methods, optional ones (records.writeLines) included. */
export type MethodOf<G extends Group> = keyof Calls[G] & string;
/** A call's name as it crosses a thread: `group.method`, e.g. `audit.list`. */
export type MethodName = { [G in Group]: `${G}.${MethodOf<G>}` }[Group];

type Signature<G extends Group, N extends MethodOf<G>> = NonNullable<Calls[G][N]>;
export type ArgsOf<G extends Group, N extends MethodOf<G>> =
  Signature<G, N> extends (...args: infer A) => unknown ? A : never;
export type ResultOf<G extends Group, N extends MethodOf<G>> =
  Signature<G, N> extends (...args: never[]) => Promise<infer R> ? R : never;

/** A group's methods as one SQLite connection runs them: synchronously. */
export type Sync<G extends Group> = { [N in MethodOf<G>]: (...args: ArgsOf<G, N>) => ResultOf<G, N> };
/** Every call, as one connection answers it (database.ts). */
export type SyncStore = { [G in Group]: Sync<G> };

type SignatureByName<M extends MethodName> = M extends `${infer G extends Group}.${infer N}`
  ? N extends MethodOf<G>
    ? Signature<G, N>
    : never
  : never;
type ArgsByName<M extends MethodName> = SignatureByName<M> extends (...args: infer A) => unknown ? A : never;
type ResultByName<M extends MethodName> = SignatureByName<M> extends (...args: never[]) => Promise<infer R> ? R : never;

/** A store call by name, typed by the interface it comes from, wherever it runs. */
export type Call = <M extends MethodName>(method: M, args: ArgsByName<M>) => Promise<ResultByName<M>>;
/** The same call as the channel carries it: any method's arguments, its result unknown. */
export type Send = (method: MethodName, args: unknown[]) => Promise<unknown>;

/** One store call across a thread boundary. */
export interface Request {
  id: number;
  method: MethodName;
  args: unknown[];
}

interface SerializedError {
  name: string;
  message: string;
  /** SQLite's extended result code, when SQLite raised it. */
  errcode?: number;
}

export type Response = { id: number; value: unknown } | { id: number; error: SerializedError };

/** Runs a request against a connection; errors come back as data (they must cross a thread). */
export function run(connection: SyncStore, request: Request): Response {
  try {
    const dot = request.method.indexOf('.');
    const group = request.method.slice(0, dot);
    if (dot < 0 || !isGroup(group)) throw new Error(`no store method ${request.method}`);
    return { id: request.id, value: runIn(connection, group, request.method.slice(dot + 1), request.args) };
  } catch (err) {
    const { name, message, errcode } = err as Error & { errcode?: number };
    return {
      id: request.id,
      error: { name: err instanceof DuplicateError ? 'DuplicateError' : name, message, errcode },
    };
  }
}

const isGroup = (group: string): group is Group => Object.hasOwn(THREAD_OF, group);

const isMethodOf = <G extends Group>(group: G, name: string): name is MethodOf<G> =>
  Object.hasOwn(THREAD_OF[group], name);

function runIn<G extends Group>(connection: SyncStore, group: G, name: string, args: unknown[]) {
  if (!isMethodOf(group, name)) throw new Error(`no store method ${group}.${name}`);
  // The arguments are what a typed Call sent for this very method, copied across the thread.
  return invoke(connection, group, name, args as ArgsOf<G, typeof name>);
}

function invoke<G extends Group, N extends MethodOf<G>>(
  connection: SyncStore,
  group: G,
  name: N,
  args: ArgsOf<G, N>,
): ResultOf<G, N> {
  return connection[group][name](...args);
}

/** An error from the other side, rebuilt so callers can tell duplicates and SQLite codes apart. */
export function revive(error: SerializedError): Error {
  const err = error.name === 'DuplicateError' ? new DuplicateError(error.message) : new Error(error.message);
  if (error.errcode !== undefined) Object.assign(err, { errcode: error.errcode });
  return err;
}
