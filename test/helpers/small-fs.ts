import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small file system of its own, so a test can fill it: a full disk, for real. */
export interface SmallFs {
  dir: string;
  kind: 'ext4' | 'tmpfs';
  /** Bytes an unprivileged write could still take. */
  free(): number;
  unmount(): void;
}

const hasExt4 = () => {
  try {
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/**
 * Mounts a file system of `megabytes` on a fresh directory (root only): a loop-mounted ext4
 * image when mkfs.ext4 is there — block allocation, delayed writes and metadata like a real
 * disk's — else tmpfs.
 */
export function mountSmallFs(megabytes: number, kind: SmallFs['kind'] = hasExt4() ? 'ext4' : 'tmpfs'): SmallFs {
  const dir = mkdtempSync(join(tmpdir(), 'aibridge-small-fs-'));
  const image = `${dir}.img`;
  try {
    if (kind === 'ext4') {
      execFileSync('truncate', ['-s', `${megabytes}M`, image]);
      execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]); // -m 0: no blocks kept for root, who runs this
      execFileSync('mount', ['-o', 'loop', image, dir]);
    } else {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0700`, 'tmpfs', dir]);
    }
  } catch (err) {
    rmSync(image, { force: true });
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let mounted = true;
  return {
    dir,
    kind,
    free() {
      const stats = statfsSync(dir);
      return stats.bavail * stats.bsize;
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); // something still holds a file: detach it anyway
      }
      rmSync(image, { force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Why this process cannot mount a small file system (not root, or not allowed here); undefined when it can. */
export function cannotMountSmallFs(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root, to mount a small file system';
  try {
    mountSmallFs(1, 'tmpfs').unmount();
    return undefined;
  } catch (err) {
    return `cannot mount a file system here (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * Writes `file` until the file system it is on has at most `leave` bytes free (0: until it is
 * full); returns the bytes written.
 */
export function fill(fs: SmallFs, file: string, leave = 0): number {
  const chunk = Buffer.alloc(64 * 1024);
  const fd = openSync(file, existsSync(file) ? 'a' : 'w');
  let total = 0;
  try {
    for (;;) {
      const room = fs.free() - leave;
      if (room <= 0) break;
      try {
        total += writeSync(fd, chunk, 0, Math.min(chunk.length, room));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
