import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openMongoStore } from '../src/store/mongo/store.ts';
import { openEmbeddedStore } from '../src/store/sqlite/store.ts';
import type { Store } from '../src/store/store.ts';
import { startMongoServer } from '../test/helpers/mongo-server.ts';

/**
 * A fresh store of a kind for a benchmark: the embedded one in a temporary data_dir (worker
 * threads, as the server runs it), or MongoDB at MONGODB_URI — else a FerretDB 1.24 started
 * here (the tests' MongoDB stand-in, far slower than MongoDB; its figures are FerretDB's).
 */
export async function openBenchStore(kind: string): Promise<{ store: Store; label: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'aibridge-bench-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  if (kind === 'embedded') {
    const store = openEmbeddedStore(join(dir, 'data'), 'threads');
    return {
      store,
      label: 'embedded (SQLite)',
      async close() {
        await store.close();
        cleanup();
      },
    };
  }
  const server = process.env.MONGODB_URI ? undefined : await startMongoServer(join(dir, 'mongo'));
  const store = await openMongoStore(
    process.env.MONGODB_URI ?? (server?.uri as string),
    `aibridge_bench_${process.pid}`,
  );
  await store.db.dropDatabase();
  const reopened = await openMongoStore(
    process.env.MONGODB_URI ?? (server?.uri as string),
    `aibridge_bench_${process.pid}`,
  );
  await store.close();
  return {
    store: reopened,
    label: server ? `mongodb (${server.kind} 1.24 here)` : 'mongodb (MONGODB_URI)',
    async close() {
      await reopened.db.dropDatabase().catch(() => {});
      await reopened.close();
      await server?.stop();
      cleanup();
    },
  };
}

export function writeResults(file: string, results: unknown): void {
  writeFileSync(resolve(import.meta.dirname, file), `${JSON.stringify(results, null, 2)}\n`);
}

export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
