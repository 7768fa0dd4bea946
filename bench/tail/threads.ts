// A process's threads from /proc (Linux): time on a CPU and time waiting for one (schedstat, in
// nanoseconds), by thread name, and the ids of the threads of a name.
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadTimes {
  /** Milliseconds on a CPU. */
  cpuMs: number;
  /** Milliseconds runnable but waiting for a CPU (another thread or process had it). */
  waitMs: number;
}

function tasks(pid: number | 'self'): Array<{ tid: number; name: string } & ThreadTimes> {
  const out: Array<{ tid: number; name: string } & ThreadTimes> = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.push({ tid: Number(tid), name, cpuMs: (cpu ?? 0) / 1e6, waitMs: (wait ?? 0) / 1e6 });
    } catch {} // a thread that ended meanwhile
  }
  return out;
}

/** Times so far, summed by thread name (MainThread, WorkerThread, V8Worker, libuv-worker…). */
export function threadTimes(pid: number | 'self' = 'self'): Record<string, ThreadTimes> {
  const byName: Record<string, ThreadTimes> = {};
  for (const t of tasks(pid)) {
    const sum = byName[t.name] ?? { cpuMs: 0, waitMs: 0 };
    sum.cpuMs += t.cpuMs;
    sum.waitMs += t.waitMs;
    byName[t.name] = sum;
  }
  return byName;
}

/** What each thread name used and waited between two readings. */
export function timesSince(before: Record<string, ThreadTimes>, after: Record<string, ThreadTimes>) {
  const out: Record<string, ThreadTimes> = {};
  for (const [name, t] of Object.entries(after)) {
    const b = before[name] ?? { cpuMs: 0, waitMs: 0 };
    out[name] = { cpuMs: t.cpuMs - b.cpuMs, waitMs: t.waitMs - b.waitMs };
  }
  return out;
}

export const threadIds = (pid: number, name: string) => tasks(pid).flatMap((t) => (t.name === name ? [t.tid] : []));
