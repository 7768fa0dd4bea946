/** The latest interception of a user, or of one of their sessions, as this process saw it start. */
export interface Latest {
  interceptionId: string;
  sessionId: string | null;
}

/** Users (and sessions) remembered, at most each: the least recently started are forgotten first. */
const MAX_KEPT = 10_000;

/**
 * Which interception a user's `/mcp` call belongs to, known without asking the store (which may not
 * have the interception yet: records reach it after their interception ends). Per process: another
 * worker's or replica's interceptions are found in the store instead.
 */
export class RecentInterceptions {
  readonly #byUser = new Map<string, Latest>();
  readonly #bySession = new Map<string, string>();
  readonly #byCall = new Map<string, Latest>();
  readonly #max: number;

  constructor(max = MAX_KEPT) {
    this.#max = max;
  }

  /** An interception started (a Map update or two: it runs on every bridged request). */
  started(userId: string, interceptionId: string, sessionId: string | null): void {
    put(this.#byUser, userId, { interceptionId, sessionId }, this.#max);
    if (sessionId !== null) put(this.#bySession, `${userId}\0${sessionId}`, interceptionId, this.#max);
  }

  /** The model of that interception called one of the client's tools (its call may come back through /mcp). */
  clientCalled(userId: string, callId: string, interceptionId: string, sessionId: string | null): void {
    put(this.#byCall, `${userId}\0${callId}`, { interceptionId, sessionId }, this.#max);
  }

  /** Where the user's model made that tool call. */
  called(userId: string, callId: string): Latest | undefined {
    return this.#byCall.get(`${userId}\0${callId}`);
  }

  /** The user's latest interception in that session, or (without one) their latest at all. */
  latest(userId: string, sessionId: string | null): Latest | undefined {
    if (sessionId === null) return this.#byUser.get(userId);
    const interceptionId = this.#bySession.get(`${userId}\0${sessionId}`);
    return interceptionId === undefined ? undefined : { interceptionId, sessionId };
  }
}

function put<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key); // re-inserted last: Map order is recency order
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}
