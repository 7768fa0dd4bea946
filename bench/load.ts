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
  await res.body.text(); // the whole answer, streamed or not
  if (res.statusCode !== 200) throw new Error(`${target.name}: HTTP ${res.statusCode}`);
}

/** Sequential latencies in milliseconds, after a warm-up. */
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
    return times.sort((a, b) => a - b);
  } finally {
    await pool.close();
  }
}

/** Requests per second with `concurrency` loops running for `durationMs`. */
export async function throughput(target: Target, concurrency: number, durationMs: number): Promise<number> {
  const pool = new Pool(target.origin, { connections: concurrency });
  let done = 0;
  const until = Date.now() + durationMs;
  const start = Date.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          await once(pool, target);
          done++;
        }
      }),
    );
    return (done / (Date.now() - start)) * 1000;
  } finally {
    await pool.close();
  }
}
