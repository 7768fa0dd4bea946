import type { Principal } from '../identity/users.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import type { AppContext } from './context.ts';
import type { RefusalOptions } from './refuse.ts';

/** Tells the client it was refused, in its transport's shape (an HTTP answer, a WebSocket error frame), and counts it. */
export type Refuser = (kind: BridgeErrorKind, message: string, options?: RefusalOptions) => void;

/**
 * While the journal cannot be written (disk full, I/O error), records wait in memory only: with
 * `recording.on_failure: refuse` a new request is refused with 503 naming the cause; with
 * `serve` it goes on (README "Reliability").
 */
function recordable(ctx: AppContext, refuse: Refuser): boolean {
  const failure = ctx.recorder.failure();
  if (failure?.where !== 'journal' || ctx.config.recording.on_failure === 'serve') return true;
  refuse(
    'overloaded',
    `AI Bridge cannot record requests right now (its journal cannot be written: ${failure.cause}); retry later`,
    { headers: { 'retry-after': '10' }, reason: 'unrecordable' },
  );
  return false;
}

/**
 * The user's request rate (`limits.user_requests_per_minute`): every provider route that reaches
 * the upstream counts, a model list or token count as much as a model call — all spend the
 * provider's own rate limit on the bridge's key.
 */
export async function withinUserRate(ctx: AppContext, principal: Principal, refuse: Refuser): Promise<boolean> {
  const wait = await ctx.limits.userRate.take(principal.user._id);
  if (!wait) return true;
  refuse('rate_limited', `rate limit reached for ${principal.user.username}; retry in ${wait}s`, {
    headers: { 'retry-after': String(wait) },
  });
  return false;
}

/** Per-user rate and global concurrency limits. */
async function admit(ctx: AppContext, principal: Principal, refuse: Refuser): Promise<boolean> {
  if (!(await withinUserRate(ctx, principal, refuse))) return false;
  if (!ctx.limits.concurrency.tryAcquire()) {
    refuse('overloaded', 'the bridge is at its concurrency limit; retry shortly', { headers: { 'retry-after': '1' } });
    return false;
  }
  return true;
}

/**
 * Runs a model request once recording, the user's rate and the bridge's concurrency let it; else
 * it was refused. Budgets are reserved per upstream call (bridged.ts).
 */
export async function admitted(
  ctx: AppContext,
  principal: Principal,
  refuse: Refuser,
  run: () => Promise<void>,
): Promise<void> {
  if (!recordable(ctx, refuse)) return;
  if (!(await admit(ctx, principal, refuse))) return;
  try {
    await run();
  } finally {
    ctx.limits.concurrency.release();
  }
}
