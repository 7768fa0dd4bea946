// Memory per open idle stream: streams the upstream never finishes, held open at once.
import { Pool } from 'undici';
import { memoryKb } from './cpu.ts';

/** KiB of resident memory per stream the process holds open, `count` at once (`pids`: the processes serving them). */
export async function idleStreams(
  target: { origin: string; path: string; headers: Record<string, string>; body: string },
  pids: readonly number[],
  count: number,
): Promise<number> {
  const rss = () => pids.reduce((sum, pid) => sum + memoryKb(pid).rss, 0);
  const pool = new Pool(target.origin, { connections: count });
  const before = rss();
  const open = await Promise.all(
    Array.from({ length: count }, () =>
      pool.request({
        path: target.path,
        method: 'POST',
        headers: { ...target.headers, 'x-bench-hang': '1' },
        body: target.body,
      }),
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  const after = rss();
  for (const res of open) res.body.destroy();
  await pool.destroy();
  return (after - before) / count;
}
