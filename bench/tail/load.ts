// Closed-loop load that keeps every request's latency under an id the server side can see
// (the x-bench-id header, forwarded by the bridge and the floor to the upstream).
import { Pool } from 'undici';
import type { Target } from '../load.ts';

export interface Timed {
  id: string;
  ms: number;
}

/** `concurrency` loops for `durationMs`; each request's id is `${prefix}-${n}`. */
export async function timedLoad(target: Target, concurrency: number, durationMs: number, prefix: string) {
  const pool = new Pool(target.origin, { connections: concurrency });
  const timed: Timed[] = [];
  let n = 0;
  let errors = 0;
  const until = Date.now() + durationMs;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const id = `${prefix}-${n++}`;
          const start = performance.now();
          const res = await pool.request({
            path: target.path,
            method: 'POST',
            headers: { ...target.headers, 'x-bench-id': id },
            body: target.body,
          });
          await res.body.text();
          if (res.statusCode === 200) timed.push({ id, ms: performance.now() - start });
          else errors++;
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return { timed, errors, rps: (timed.length / (performance.now() - started)) * 1000 };
}
