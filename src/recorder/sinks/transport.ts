/** An event ready to send: its kind and time (syslog's MSGID and TIMESTAMP) and its JSON text. */
export interface OutgoingEvent {
  kind: string;
  time: string;
  json: string;
}

/** Where one audit sink's events go: a file, a syslog server, a webhook. */
export interface SinkTransport {
  /** Where events go, for logs: never a secret (no credentials, no query string). */
  readonly target: string;
  /**
   * Sends a batch whole and in order, or throws (the runner sends the same batch again later).
   * `signal` aborts it at shutdown.
   */
  deliver(events: readonly OutgoingEvent[], signal: AbortSignal): Promise<void>;
  /**
   * Set by a transport whose receiver acknowledges nothing (syslog over TCP): a batch counts as
   * delivered only once it has stayed this long on a connection that is still up.
   */
  readonly settleMs?: number;
  /** The current connection's number: it changes when one is lost, and the runner sends again what had not settled. */
  readonly connection?: number;
  /** Ends cleanly. True when the receiver showed it has read everything sent (so nothing is left unsettled). */
  close(): Promise<boolean>;
}

/** A delivery the receiver refused because the batch is too large (HTTP 413): the runner sends smaller ones. */
export class BatchTooLarge extends Error {}
