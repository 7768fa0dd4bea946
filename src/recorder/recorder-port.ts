import type { RecordOp } from '../store/records.ts';

/**
 * Where an interception's records go. `record` never waits on the store and never throws;
 * an implementation makes each op durable (its journal) by the time it returns, or by the time
 * `durable()` resolves — which is why the loop hands over `interception_ended`, and waits for
 * `durable()`, before the response's last bytes.
 */
export interface Recorder {
  record(op: RecordOp): void;
  /** Resolves once every op handed over so far is durable; undefined when they already are. */
  durable?(): Promise<void> | undefined;
}
