import { BridgeError, UpstreamAuthError } from '../providers/errors.ts';
import { describeUpstreamFailure } from '../providers/upstream-failure.ts';
import { blockingLoop } from './blocking-loop.ts';
import { streamingLoop } from './streaming-loop.ts';
import { type Finish, type LoopDeps, ToolLoop } from './tool-loop.ts';

/** A thrown failure as an outcome: the client is told in its provider's format (or nothing, when it left). */
function failure(loop: ToolLoop, err: unknown): Finish {
  const { signal, log } = loop.deps;
  if (signal.aborted) {
    loop.metadata.error = 'client disconnected';
    return { status: 'failed', deliver: () => {} };
  }
  if (err instanceof UpstreamAuthError) {
    // Why credentials failed is for the operator's log (found by the request id), not the client or the record.
    const { requestId } = loop.deps;
    log.warn({ err: err.detail, request_id: requestId }, err.message);
    loop.metadata.error = err.message;
    const told = `${err.message} (request id ${requestId})`;
    return { status: 'failed', deliver: () => loop.fail(err.kind, told, { 'x-request-id': requestId }) };
  }
  if (err instanceof BridgeError) {
    loop.metadata.error = err.message;
    return { status: 'failed', deliver: () => loop.fail(err.kind, err.message, err.headers) };
  }
  const message = err instanceof Error ? err.message : String(err);
  loop.metadata.error = message;
  log.warn({ err: message, request_id: loop.deps.requestId }, 'upstream call failed');
  // The client hears what failed, never the internals (addresses, resolver errors).
  const told = describeUpstreamFailure(err, loop.deps.requestId);
  return {
    status: 'failed',
    deliver: () => loop.fail(told.kind, told.message, { 'x-request-id': loop.deps.requestId }),
  };
}

/**
 * Runs one interception's tool loop to its outcome, reports the end, and only then writes the
 * client's last bytes: `ended` reaches the recorder before the response does, so a crash
 * after the client has its answer loses no record.
 */
export async function runInterception(deps: LoopDeps): Promise<void> {
  const loop = new ToolLoop(deps);
  let finish: Finish;
  try {
    finish = await deps.events.processing(() => (deps.streaming ? streamingLoop(loop) : blockingLoop(loop)));
  } catch (err) {
    finish = failure(loop, err);
  }
  const durable = deps.events.ended({ status: finish.status, metadata: loop.metadata });
  if (durable) await durable; // the records on disk first (a group commit: see Recorder)
  try {
    await finish.deliver();
  } catch (err) {
    // Relaying an upstream error body can break midway; the outcome is already recorded.
    if (!deps.signal.aborted) deps.log.warn({ err: (err as Error).message }, 'answer to the client broke');
  } finally {
    deps.channel.end();
  }
}
