import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { embeddedStorePath } from '../../paths.ts';
import type { Store } from '../store.ts';
import { Channel, WorkerGone } from './channel.ts';
import { EmbeddedDatabase, migrate, openDatabase } from './database.ts';
import { facade } from './facade.ts';
import { PageReader } from './pages.ts';
import { type Call, revive, run, type Send } from './protocol.ts';
import { READS } from './threads.ts';

/**
 * SQLite result codes (primary) that describe a passing condition, not a bad record: a full
 * disk, an I/O error, a file system remounted read-only, a lock, memory (README "Reliability").
 */
const TRANSIENT = new Set([
  5 /* BUSY */, 6 /* LOCKED */, 7 /* NOMEM */, 8 /* READONLY */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */,
  15 /* PROTOCOL */,
]);

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
    const send: Send = async (method, args) => {
      const response = run(setup, { id: 0, method, args });
      if ('error' in response) throw revive(response.error);
      return response.value;
    };
    return facade(send, {
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
  const send: Send = (method, args) => {
    if (!READS.has(method)) return writer.call(method, args);
    const reader = readers.reduce((a, b) => (b.load < a.load ? b : a));
    return reader.call(method, args);
  };
  // The same function, typed per method for the calls made here.
  const call = send as Call;
  const pages = new PageReader(call);
  return facade(
    send,
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
    { audit: { listJson: (filter, page) => pages.listJson(filter, page) } },
  );
}
