import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** What a running server leaves in its data_dir, so commands run beside it find what it runs with. */
export interface ServerRecord {
  /** Its configuration file, absolute; null when it runs on the built-in defaults. */
  config: string | null;
  url: string;
  pid: number;
  started_at: string;
}

export const SERVER_RECORD_FILE = 'server.json';

/** Where commands look for it: the default data_dir of the directory they run in. */
export const LOCAL_SERVER_RECORD = join('.data', SERVER_RECORD_FILE);

/** Written once the server listens (0600, replaced whole, so a reader never sees half of it). */
export function writeServerRecord(dataDir: string, record: Omit<ServerRecord, 'started_at'>): void {
  const file = join(dataDir, SERVER_RECORD_FILE);
  const body: ServerRecord = {
    ...record,
    config: record.config ? resolve(record.config) : null,
    started_at: new Date().toISOString(),
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** The record in ./.data, if there is a readable one; anything else is as good as none. */
export function readServerRecord(file = LOCAL_SERVER_RECORD): ServerRecord | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerRecord>;
    if (typeof record.url !== 'string' || typeof record.pid !== 'number') return undefined;
    return {
      config: typeof record.config === 'string' ? record.config : null,
      url: record.url,
      pid: record.pid,
      started_at: String(record.started_at ?? ''),
    };
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote it still runs (its URL is worth trying). */
export function isRunning(record: ServerRecord): boolean {
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
