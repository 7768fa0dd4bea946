import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { parseDuration } from '../../duration.ts';
import { childTotal, purge } from '../../retention/purge.ts';
import { COLLECTIONS } from '../../store/store.ts';
import type { Service } from './service.ts';

const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Purges at start-up (in the background, so a backlog never delays serving) and every
 * 10 minutes. Every replica runs this; the lease in the store lets one purge at a time.
 * The period is read at each run, so a reload's new `retention` applies from the next one.
 */
export const retentionService: Service = async (ctx) => {
  const log = ctx.logger.child({ component: 'retention' });
  const holder = `${hostname()}:${process.pid}:${randomUUID()}`;
  const abort = new AbortController();
  let current: Promise<void> | undefined;

  const once = async () => {
    const retentionMs = parseDuration(ctx.config.retention);
    if (retentionMs === 0) {
      log.debug('retention is 0: interceptions are kept forever');
      return;
    }
    try {
      const run = await purge(ctx.store, {
        holder,
        cutoff: new Date(Date.now() - retentionMs),
        signal: abort.signal,
      });
      if (!run.ran) {
        log.debug('another replica holds the retention lease; skipped');
        return;
      }
      ctx.metrics.retentionRuns.inc();
      ctx.metrics.retentionPurged.labels(COLLECTIONS.interceptions).inc(run.interceptions);
      for (const [name, count] of Object.entries(run.children)) ctx.metrics.retentionPurged.labels(name).inc(count);
      const children = childTotal(run);
      const facts = {
        interceptions: run.interceptions,
        children: run.children,
        batches: run.batches,
        cutoff: run.cutoff.toISOString(),
        duration_ms: run.durationMs,
      };
      if (run.interceptions || children) log.info(facts, 'retention purge deleted old interceptions');
      else log.debug(facts, 'retention purge found nothing to delete');
    } catch (err) {
      log.warn({ err }, 'retention purge failed; will retry at the next interval');
    }
  };
  const tick = () => {
    current ??= once().finally(() => {
      current = undefined;
    });
  };

  tick();
  const timer = setInterval(tick, PURGE_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      abort.abort();
      await current;
    },
  };
};
