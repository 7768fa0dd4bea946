import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../store/store.ts';
import { JournalRecorder } from './recorder.ts';

/**
 * Where a process journals: `data_dir/journal` for a single process, `data_dir/journal/worker-<n>`
 * for worker n of `--workers` (two processes never append to one segment).
 */
export function journalDir(dataDir: string, worker?: number): string {
  const root = join(dataDir, 'journal');
  return worker === undefined ? root : join(root, `worker-${worker}`);
}

const hasSegments = (dir: string) => {
  try {
    return readdirSync(dir).some((name) => name.endsWith('.ndjson'));
  } catch {
    return false;
  }
};

/** Journal directories holding segments that none of `owned` (this run's processes) will replay. */
export function orphanJournals(dataDir: string, owned: readonly string[]): string[] {
  const root = journalDir(dataDir);
  let workers: string[];
  try {
    workers = readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && /^worker-\d+$/.test(entry.name))
      .map((entry) => join(root, entry.name));
  } catch {
    return []; // no journal yet
  }
  return [root, ...workers].filter((dir) => !owned.includes(dir) && hasSegments(dir));
}

/**
 * Ships what journals of another run left (a run with a different `--workers`): records a
 * process that has gone wrote, and nobody else would replay. What the store does not take
 * within `timeoutMs` stays where it is for the next start.
 */
export async function drainJournals(
  store: Store,
  logger: Logger,
  dataDir: string,
  dirs: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  for (const dir of dirs) {
    const recorder = new JournalRecorder(store, logger, { dataDir, journalDir: dir });
    await recorder.close(timeoutMs); // ships what the journal holds, until the deadline
    const { written } = recorder.stats();
    if (written) logger.info({ journal: dir, records: written }, 'recorder: shipped the records another run left');
  }
}
