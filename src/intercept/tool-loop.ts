import type { RequestBridge } from '../mcp/types.ts';
import type { CostHints } from '../pricing/estimate.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import type { StreamDecoder } from '../providers/kind.ts';
import type { InterceptionStatus } from '../store/records.ts';
import type { ClientChannel } from './client-channel.ts';
import { ClientView } from './client-view.ts';
import type { InterceptionEvents } from './events.ts';
import { type OwnedCall, runOwnedCalls } from './tool-runner.ts';
import type { ApiModule, Json, ToolCall, Turn } from './types.ts';
import type { UpstreamReply } from './upstream.ts';

/** Why owned calls of a turn that ends the loop are not run (recorded as their invocation_error). */
export const NOT_RUN = {
  mixed: 'not run: the model also called client tools in this turn, which went to the client',
  capped: 'not run: tool_loop.max_iterations was reached',
} as const;

/** Everything one interception's loop works with; all of it replaceable by fakes in unit tests. */
export interface LoopDeps {
  api: ApiModule;
  /**
   * The request as the upstream gets it (tools injected), for the calls after the first; it grows
   * by each turn and its results. Asked for only when a second call comes (most requests make one).
   */
  body(): Json;
  /** The first call's bytes: the client's own when the bridge changed nothing. */
  firstBody: Buffer | string;
  streaming: boolean;
  /** The tools this request may use; an empty bridge when none are injected. */
  bridge: RequestBridge;
  events: InterceptionEvents;
  channel: ClientChannel;
  /**
   * One upstream call with this body; `hints` say what it may cost when it is not the first call
   * (whose hints were read with the client's body).
   */
  send(body: Buffer | string, hints?: CostHints): Promise<UpstreamReply>;
  /** Reads the upstream's stream framing into events; SSE when omitted. */
  decoder?: () => StreamDecoder;
  /** Fires when the client goes away. */
  signal: AbortSignal;
  limits: { maxIterations: number; parallelism: number; keepAliveMs: number };
  /** Streaming: false when the bridge asked for usage the client did not (it is hidden again). */
  clientWantsUsage: boolean;
  toolsInjected: boolean;
  log: { warn(fields: Record<string, unknown>, message: string): void };
  /** Named in error messages to the client; the details are logged under it. */
  requestId: string;
}

/** How an interception ends: its outcome, and the client's last bytes (written once the outcome is recorded). */
export interface Finish {
  status: InterceptionStatus;
  deliver(): void | Promise<void>;
}

/**
 * The steps both the blocking and the streaming loop take: call the upstream, settle a turn
 * (which calls the bridge owns, which go to the client), run the owned ones and append them.
 */
export class ToolLoop {
  readonly deps: LoopDeps;
  /** Merged into the interception's metadata when it ends. */
  readonly metadata: Record<string, unknown> = {};
  /** The one filter between the model's tool calls and the client. */
  readonly view: ClientView;
  /** How to tell a client that has started receiving a stream about a failure. */
  failStream: ((kind: BridgeErrorKind, message: string) => void) | undefined;
  #body: Json | undefined;

  constructor(deps: LoopDeps) {
    this.deps = deps;
    this.view = new ClientView((name) => deps.bridge.claim(name) !== undefined, deps.api.callName);
  }

  /** Upstream call number `iteration`; a non-200 answer ends its span as failed. */
  async call(iteration: number): Promise<UpstreamReply> {
    const { events, send } = this.deps;
    // Bytes, not a string: see callUpstream.
    const conversation = iteration ? this.#conversation() : undefined;
    const body = conversation ? Buffer.from(JSON.stringify(conversation)) : this.deps.firstBody;
    // A follow-up may continue a response the upstream stored (Responses chains them): its own hints.
    const hints = conversation && this.deps.api.costHints(conversation);
    const reply = await events.upstreamStarted(() => send(body, hints));
    if (reply.statusCode !== 200) {
      this.metadata.upstream_status = reply.statusCode;
      events.upstreamEnded({ error: `upstream answered ${reply.statusCode}`, status: reply.statusCode });
    }
    return reply;
  }

  /** Sorts a turn's calls; returns the owned calls to run, or undefined when the loop ends with this turn. */
  settle(turn: Turn, iteration: number): OwnedCall[] | undefined {
    const owned: OwnedCall[] = [];
    const clientCalls: ToolCall[] = [];
    for (const call of turn.toolCalls) {
      const claim = this.deps.bridge.claim(call.name);
      if (claim) owned.push({ call, claim });
      else clientCalls.push(call);
    }
    const last = iteration + 1 >= this.deps.limits.maxIterations;
    // The client cannot answer owned calls, and the loop cannot go on without the client's results.
    const reason = owned.length === 0 ? null : clientCalls.length ? NOT_RUN.mixed : last ? NOT_RUN.capped : null;
    this.deps.events.turnSettled({ turn, clientCalls, notRun: reason ? owned.map((o) => ({ ...o, reason })) : [] });
    if (reason === NOT_RUN.capped) this.metadata.capped = true;
    return owned.length && !reason ? owned : undefined;
  }

  /** Runs the turn's owned calls and appends them with their results; the last allowed call gets tools turned off. */
  async continue(turn: Turn, calls: OwnedCall[], iteration: number): Promise<void> {
    const { api, bridge, events, limits, signal } = this.deps;
    const body = this.#conversation();
    const exchanges = await runOwnedCalls(calls, {
      bridge,
      events,
      api,
      parallelism: limits.parallelism,
      responseId: turn.responseId,
      signal,
    });
    api.appendToolResults(body, turn, exchanges);
    if (iteration + 2 >= limits.maxIterations) {
      api.disableTools(body);
      this.metadata.capped = true;
    }
  }

  /** The body of the calls after the first, made once. */
  #conversation(): Json {
    this.#body ??= this.deps.body();
    return this.#body;
  }

  /** Tells the client about a failure: an error event inside a started stream, else an error response. */
  fail(kind: BridgeErrorKind, message: string, headers?: Record<string, string>): void {
    if (this.deps.channel.started && this.failStream) this.failStream(kind, message);
    else this.deps.channel.error(kind, message, headers);
  }
}
