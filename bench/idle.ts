// Memory per open idle stream: streams the upstream never finishes, held open at once.
import { Pool } from 'undici';
import { memoryKb } from './cpu.ts';
import type { Inspector } from './inspector.ts';

interface StreamTarget {
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

const open = (pool: Pool, target: StreamTarget, count: number) =>
  Promise.all(
    Array.from({ length: count }, () =>
      pool.request({
        path: target.path,
        method: 'POST',
        headers: { ...target.headers, 'x-bench-hang': '1' },
        body: target.body,
      }),
    ),
  );

/**
 * What each further idle stream costs a process: live JavaScript heap after a full collection
 * (through its inspector) and resident memory, in KiB. `count` streams are opened first (the
 * process grows its pools once), then `count` more; only the second step is counted.
 */
export async function idleStreams(
  target: StreamTarget,
  pid: number,
  inspector: Inspector,
  count: number,
): Promise<{ heap_kb: number; rss_kb: number }> {
  const settle = () => new Promise((r) => setTimeout(r, 500));
  const pool = new Pool(target.origin, { connections: 2 * count });
  try {
    const first = await open(pool, target, count);
    await settle();
    const heapBefore = await inspector.heapUsedAfterGc();
    const rssBefore = memoryKb(pid).rss;
    const second = await open(pool, target, count);
    await settle();
    const heapAfter = await inspector.heapUsedAfterGc();
    const rssAfter = memoryKb(pid).rss;
    for (const res of [...first, ...second]) res.body.destroy();
    return { heap_kb: (heapAfter - heapBefore) / 1024 / count, rss_kb: (rssAfter - rssBefore) / count };
  } finally {
    await pool.destroy();
  }
}
