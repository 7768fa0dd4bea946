import { type FSWatcher, readFile, readFileSync, unwatchFile, watch, watchFile } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface FileWatch {
  close(): void;
}

const readOrNull = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/**
 * Calls `onChange` once the file's content has changed and the writes have settled. It watches
 * the directory, not the file: editors that save by writing a new file and renaming it over the
 * old one, and ConfigMap updates that swap a symlink, replace the inode a file watch would follow.
 * Any event in the directory only schedules a read; nothing happens unless the content differs.
 */
export function watchConfigFile(file: string, onChange: () => void, options: { debounceMs?: number } = {}): FileWatch {
  const path = resolve(file);
  const debounceMs = options.debounceMs ?? 250;
  let last = readOrNull(path);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const check = () => {
    readFile(path, 'utf8', (err, text) => {
      // Mid-replace the file may be missing for a moment; the rename that follows fires again.
      if (closed || err || text === last) return;
      last = text;
      onChange();
    });
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
    timer.unref();
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, schedule);
    watcher.on('error', () => {}); // e.g. the directory went away; polling below would not help either
  } catch {
    // No inotify watches left (or no fs events on this filesystem): poll the file's stat instead.
    watchFile(path, { persistent: false, interval: 1_000 }, schedule);
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (watcher) watcher.close();
      else unwatchFile(path, schedule);
    },
  };
}
