import { Pool } from 'undici';

export interface Target {
  name: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function once(pool: Pool, target: Target): Promise<void> {
  const res = await pool.request({ path: target.path, method: 'POST', headers: target.headers, body: target.body });
  const text = await res.body.text(); // the whole answer, streamed or not
  if (res.statusCode !== 200) throw new Error(`${target.name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
}

/** Sequential latencies in milliseconds, after a warm-up (unsorted: callers pool several runs). */
export async function latencies(target: Target, count: number, warmup = 50): Promise<number[]> {
  const pool = new Pool(target.origin, { connections: 1 });
  try {
    for (let i = 0; i < warmup; i++) await once(pool, target);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = process.hrtime.bigint();
      await once(pool, target);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return times;
  } finally {
    await pool.close();
  }
}

/** Requests completed and per second with `concurrency` loops running for `durationMs` (after `warmupMs` unmeasured). */
export async function throughput(
  target: Target,
  concurrency: number,
  durationMs: number,
  warmupMs = 0,
): Promise<{ rps: number; requests: number }> {
  const pool = new Pool(target.origin, { connections: concurrency });
  const run = async (ms: number) => {
    let done = 0;
    const until = Date.now() + ms;
    const start = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          await once(pool, target);
          done++;
        }
      }),
    );
    return { rps: (done / (Date.now() - start)) * 1000, requests: done };
  };
  try {
    if (warmupMs) await run(warmupMs);
    return await run(durationMs);
  } finally {
    await pool.close();
  }
}
