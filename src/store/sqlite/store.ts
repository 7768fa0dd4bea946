import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { embeddedStorePath, siblingModule } from '../../paths.ts';
import type { Store } from '../store.ts';
import { EmbeddedDatabase, migrate, openDatabase } from './database.ts';
import { PageReader } from './pages.ts';
import { type Call, type Request, type Response, revive, run } from './protocol.ts';

/** SQLite result codes (primary) that describe a passing condition, not a bad record. */
const TRANSIENT = new Set([5 /* BUSY */, 6 /* LOCKED */, 7 /* NOMEM */, 10 /* IOERR */, 13 /* FULL */, 14, 15]);

/** Reads that may run on a reader connection; everything else goes to the one writer. */
const READS = new Set([
  'audit.cursor',
  'audit.list',
  'audit.listJson',
  'audit.count',
  'audit.get',
  'audit.distinct',
  'audit.usage',
  'audit.sessions',
  'audit.spend',
  'audit.tools',
  'identity.users',
  'identity.countUsers',
  'identity.userById',
  'identity.userByUsername',
  'identity.usersByIds',
  'identity.keyByHash',
  'identity.keyById',
  'identity.keys',
  'credentials.get',
  'credentials.list',
  'documents.scan',
  'documents.estimate',
  'rates.others',
  'pages.ids',
  'pages.json',
]);

class WorkerGone extends Error {}

/** A worker thread with its own connection; restarted on the next call if it ever dies. */
class Channel {
  readonly #file: string;
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(file: string) {
    this.#file = file;
  }

  get load(): number {
    return this.#pending.size;
  }

  call(method: string, args: unknown[]): Promise<unknown> {
    const worker = this.#spawn();
    const id = this.#next++;
    return new Promise((resolvePromise, reject) => {
      this.#pending.set(id, { resolve: resolvePromise, reject });
      worker.postMessage({ id, method, args } satisfies Request);
    });
  }

  #spawn(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(siblingModule(import.meta.url, './worker'), {
      workerData: { file: this.#file },
    });
    worker.on('message', (response: Response) => {
      const waiter = this.#pending.get(response.id);
      this.#pending.delete(response.id);
      if ('error' in response) waiter?.reject(revive(response.error));
      else waiter?.resolve(response.value);
    });
    const gone = (reason: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const waiter of this.#pending.values()) waiter.reject(new WorkerGone(`embedded store worker ${reason}`));
      this.#pending.clear();
    };
    worker.on('error', (err) => gone(`failed: ${err.message}`));
    worker.on('exit', (code) => gone(`exited (${code})`));
    this.#worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    const exited = new Promise((r) => worker.once('exit', r));
    worker.postMessage('close');
    await exited;
  }
}

/** Creates data_dir (0700) and the store file (0600) so nothing in it is readable by others. */
function prepareDataDir(dataDir: string): string {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = embeddedStorePath(dir);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600); // SQLite gives its -wal and -shm files the database file's mode
  return file;
}

type Groups = 'records' | 'audit' | 'identity' | 'credentials' | 'leases' | 'rates' | 'documents';

function facade(call: Call, store: Omit<Store, Groups>, audit: Partial<Store['audit']> = {}): Store {
  // A group's methods are calls to the connection, but for those given here.
  const group = (name: string, own: object = {}) =>
    new Proxy(own, {
      get: (target, method) =>
        Object.hasOwn(target, method)
          ? target[method as keyof typeof target]
          : (...args: unknown[]) => call(`${name}.${String(method)}`, args),
    });
  return {
    ...store,
    records: group('records'),
    audit: group('audit', audit),
    identity: group('identity'),
    credentials: group('credentials'),
    leases: group('leases'),
    rates: group('rates'),
    documents: group('documents'),
  } as Store;
}

function isPermanent(err: unknown): boolean {
  if (err instanceof WorkerGone) return false;
  const code = (err as { errcode?: number }).errcode;
  return code === undefined || !TRANSIENT.has(code & 0xff);
}

/**
 * The embedded store: one SQLite file under data_dir. `threads` (the server) runs every
 * operation in worker threads — one writer, two readers — so the event loop never waits on
 * SQLite; `inline` (admin commands) runs them on the caller's thread.
 */
export function openEmbeddedStore(dataDir: string, mode: 'threads' | 'inline'): Store {
  const file = prepareDataDir(dataDir);
  const setup = new EmbeddedDatabase(openDatabase(file));
  try {
    migrate(setup.db);
  } catch (err) {
    setup.close();
    throw err;
  }

  if (mode === 'inline') {
    const call: Call = async (method, args) => {
      const response = run(setup, { id: 0, method, args });
      if ('error' in response) throw revive(response.error);
      return response.value;
    };
    return facade(call, {
      kind: 'embedded',
      location: file,
      ping: async () => true,
      isPermanent,
      close: async () => setup.close(),
    });
  }

  setup.close();
  const writer = new Channel(file);
  const readers = [new Channel(file), new Channel(file)];
  const call: Call = (method, args) => {
    if (!READS.has(method)) return writer.call(method, args);
    const reader = readers.reduce((a, b) => (b.load < a.load ? b : a));
    return reader.call(method, args);
  };
  const pages = new PageReader(call);
  return facade(
    call,
    {
      kind: 'embedded',
      location: file,
      async ping(timeoutMs = 1_000) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), timeoutMs);
        });
        const answer = call('identity.countUsers', []).then(
          () => true,
          () => false,
        );
        const ok = await Promise.race([answer, timeout]);
        clearTimeout(timer);
        return ok;
      },
      isPermanent,
      async close() {
        await Promise.all([writer, ...readers].map((c) => c.close()));
      },
    },
    { listJson: (filter, page) => pages.listJson(filter, page) },
  );
}
