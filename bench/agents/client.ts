// The agents benchmark's client: many sessions at once against one system, each replaying its
// conversation call by call and timing every call (time to first byte and to the last).
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Pool } from 'undici';
import { callsPerSession, createSession, isInjected, type Read, type Session, type Shape } from './sessions.ts';

/** Where one API of a system is reached: origin, path prefix, and its credentials. */
export interface Endpoint {
  origin: string;
  prefix: string;
  headers: Record<string, string>;
}

export interface System {
  name: string;
  anthropic: Endpoint | undefined;
  openai: Endpoint | undefined;
  /** Runs the injected tool loop itself; else the client runs it (as it must through the floor or direct). */
  runsTools: boolean;
  /** The processes serving it, for CPU and memory (none for the upstream itself). */
  pids(): number[];
}

export type Kind = 'main' | 'loop' | 'side';
export const KINDS: Kind[] = ['main', 'loop', 'side'];

/** One call as the client timed it. */
export interface Timing {
  kind: Kind;
  ttfb: number;
  total: number;
  /** The request body the client sent (the first, for a loop run client-side). */
  bytes: number;
}

/** Every call's figures, in parallel arrays (tens of thousands of calls per run). */
export class Tally {
  readonly kind: Kind[] = [];
  readonly shape: Shape[] = [];
  readonly ttfbMs: number[] = [];
  readonly totalMs: number[] = [];
  readonly requestBytes: number[] = [];
  /** Paired runs: this call's time over the same call to the upstream itself, sent at the same moment (else NaN). */
  readonly addedTtfbMs: number[] = [];
  readonly addedTotalMs: number[] = [];
  errors = 0;
  readonly errorMessages = new Map<string, number>();
  /** Calls started and not yet answered (memory is read while sessions are open). */
  inFlight = 0;

  add(timing: Timing, shape: Shape, over?: Timing): void {
    this.kind.push(timing.kind);
    this.shape.push(shape);
    this.ttfbMs.push(timing.ttfb);
    this.totalMs.push(timing.total);
    this.requestBytes.push(timing.bytes);
    this.addedTtfbMs.push(over ? timing.ttfb - over.ttfb : Number.NaN);
    this.addedTotalMs.push(over ? timing.total - over.total : Number.NaN);
  }

  get paired(): boolean {
    return this.addedTotalMs.some((x) => !Number.isNaN(x));
  }

  merge(other: Tally): void {
    this.kind.push(...other.kind);
    this.shape.push(...other.shape);
    this.ttfbMs.push(...other.ttfbMs);
    this.totalMs.push(...other.totalMs);
    this.requestBytes.push(...other.requestBytes);
    this.addedTtfbMs.push(...other.addedTtfbMs);
    this.addedTotalMs.push(...other.addedTotalMs);
    this.errors += other.errors;
    for (const [m, n] of other.errorMessages) this.errorMessages.set(m, (this.errorMessages.get(m) ?? 0) + n);
  }

  fail(message: string): void {
    this.errors++;
    const key = message.slice(0, 200);
    this.errorMessages.set(key, (this.errorMessages.get(key) ?? 0) + 1);
  }

  get calls(): number {
    return this.totalMs.length;
  }
}

export interface RoundOptions {
  sessions: number;
  prompts: number;
  round: number;
  /** Share of the sessions that are Codex; the rest are Claude Code. */
  codexShare: number;
  /** The client's own tool run between a tool call and the next request. */
  toolMs: number;
  /** The user's pause between prompts. */
  thinkMs: number;
  /** Sessions start spread over this long, as people start work at different moments. */
  staggerMs: number;
  mcpUrl: string;
}

interface Sent {
  ttfb: number;
  total: number;
  text: string;
}

class Caller {
  readonly #pools = new Map<string, Pool>();
  readonly #tally: Tally;
  readonly #connections: number;

  constructor(tally: Tally, connections: number) {
    this.#tally = tally;
    this.#connections = connections;
  }

  async send(endpoint: Endpoint, path: string, headers: Record<string, string>, body: Buffer | string): Promise<Sent> {
    let pool = this.#pools.get(endpoint.origin);
    if (!pool) {
      pool = new Pool(endpoint.origin, {
        connections: this.#connections,
        keepAliveTimeout: 60_000,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      this.#pools.set(endpoint.origin, pool);
    }
    this.#tally.inFlight++;
    try {
      const start = performance.now();
      const res = await pool.request({
        path: endpoint.prefix + path,
        method: 'POST',
        headers: { ...headers, ...endpoint.headers },
        body,
      });
      let ttfb = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        if (!ttfb) ttfb = performance.now() - start;
        chunks.push(chunk as Buffer);
      }
      const total = performance.now() - start;
      const text = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      return { ttfb: ttfb || total, total, text };
    } finally {
      this.#tally.inFlight--;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }
}

const shapeOf = (index: number, codexShare: number): Shape =>
  Math.floor((index + 1) * codexShare) > Math.floor(index * codexShare) ? 'codex' : 'claude-code';

/** One system in a round: its connections, its MCP client (when the client runs the loop) and its tally. */
class Lane {
  readonly system: System;
  readonly tally: Tally;
  readonly caller: Caller;
  readonly mcp: Client | undefined;

  private constructor(system: System, tally: Tally, caller: Caller, mcp: Client | undefined) {
    this.system = system;
    this.tally = tally;
    this.caller = caller;
    this.mcp = mcp;
  }

  static async open(system: System, tally: Tally, options: RoundOptions): Promise<Lane> {
    let mcp: Client | undefined;
    if (!system.runsTools) {
      mcp = new Client({ name: 'bench-agents', version: '1' });
      await mcp.connect(new StreamableHTTPClientTransport(new URL(options.mcpUrl)));
    }
    return new Lane(system, tally, new Caller(tally, options.sessions * 2), mcp);
  }

  async close(): Promise<void> {
    await this.caller.close();
    await this.mcp?.close();
  }
}

/** One model call of a session, through the system; for a client-run loop, the injected call and its follow-up. */
async function call(lane: Lane, session: Session): Promise<{ read: Read; timing: Timing }> {
  const { system, caller } = lane;
  const endpoint = system[session.api] as Endpoint;
  const step = session.step();
  const body = session.body(!system.runsTools);
  const first = await caller.send(endpoint, session.path, session.headers, body);
  let read: Read = session.read(first.text);
  let total = first.total;
  if (step.loop && !system.runsTools) {
    // What the gateway would do, done by the client: the upstream's call, the MCP call, the upstream again.
    // Timed as the three exchanges only, not the client's own work between them.
    if (!read.tool || !isInjected(read.tool)) throw new Error('the model did not call the injected tool');
    const started = performance.now();
    const result = (await (lane.mcp as Client).callTool({ name: 'echo', arguments: read.tool.input })) as {
      content: Array<{ text?: string }>;
    };
    total += performance.now() - started;
    const next = session.followUp(read, result.content[0]?.text ?? '');
    const second = await caller.send(endpoint, session.path, session.headers, next);
    total += second.total;
    read = session.merge(read, session.read(second.text));
  }
  if (read.tool && isInjected(read.tool))
    throw new Error(`an injected tool call reached the client: ${read.tool.name}`);
  if ((read.tool?.name ?? null) !== step.expect)
    throw new Error(`expected ${step.expect ?? 'an answer'}, got ${read.tool?.name ?? 'an answer'}`);
  session.accept(read);
  return { read, timing: { kind: step.loop ? 'loop' : 'main', ttfb: first.ttfb, total, bytes: body.length } };
}

async function side(lane: Lane, session: Session, body: string): Promise<Timing> {
  const sent = await lane.caller.send(lane.system.anthropic as Endpoint, session.path, session.headers, body);
  const answer = JSON.parse(sent.text) as { content?: Array<{ type: string }> };
  if (answer.content?.[0]?.type !== 'text') throw new Error('side request: no text in the answer');
  return { kind: 'side', ttfb: sent.ttfb, total: sent.total, bytes: Buffer.byteLength(body) };
}

/**
 * The same call on every lane at once. With two lanes (the upstream itself, then the system), the
 * system's call is recorded with its time over the other: both met the same machine at the same
 * moment, so what else ran then weighs on both. A lane's failure ends the session on every lane.
 */
async function together<T>(
  lanes: Lane[],
  sessions: Session[],
  send: (lane: Lane, session: Session, i: number) => Promise<T>,
  timingOf: (result: T) => Timing,
): Promise<T[]> {
  const settled = await Promise.allSettled(lanes.map((lane, i) => send(lane, sessions[i] as Session, i)));
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [[i, s.reason as Error] as const] : []));
  if (failed.length) {
    for (const [i, err] of failed) lanes[i]?.tally.fail(err.message);
    throw new SessionEnded();
  }
  const results = settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  const timings = results.map(timingOf);
  const shape = (sessions[0] as Session).shape;
  lanes.forEach((lane, i) => {
    lane.tally.add(timings[i] as Timing, shape, lanes.length === 2 && i === 1 ? timings[0] : undefined);
  });
  return results;
}

/** A session that cannot go on (a lane's call failed, and was counted there). */
class SessionEnded extends Error {}

async function runSession(lanes: Lane[], sessions: Session[], options: RoundOptions) {
  const [first] = sessions as [Session];
  for (let prompt = 0; prompt < first.prompts; prompt++) {
    if (prompt > 0) await sleep(options.thinkMs);
    for (const s of sessions) s.begin(prompt);
    const sideBodies = sessions.map((s) => s.side());
    // Claude Code sends its side request beside the prompt's first call.
    const sideDone = sideBodies[0]
      ? together(
          lanes,
          sessions,
          (lane, session, i) => side(lane, session, sideBodies[i] as string),
          (t) => t,
        )
      : undefined;
    try {
      for (;;) {
        const [answer] = await together(lanes, sessions, call, (r) => r.timing);
        if (!answer?.read.tool) break;
        await sleep(options.toolMs);
      }
    } finally {
      await sideDone?.catch(() => {}); // counted by together()
    }
  }
}

/** Calls one round makes: every prompt's steps and answer, and the side requests. */
export function expectedCalls(options: RoundOptions): number {
  let calls = 0;
  for (let i = 0; i < options.sessions; i++) calls += callsPerSession(shapeOf(i, options.codexShare), options.prompts);
  return calls;
}

/**
 * Runs `options.sessions` sessions at once, each through all its prompts, on one system — or on
 * two in step (the upstream itself first): each call sent to both at the same moment.
 */
export async function runRound(systems: System[], options: RoundOptions, tallies: Tally[]): Promise<void> {
  const lanes = await Promise.all(systems.map((system, i) => Lane.open(system, tallies[i] as Tally, options)));
  try {
    await Promise.all(
      Array.from({ length: options.sessions }, async (_, i) => {
        await sleep((i * options.staggerMs) / options.sessions);
        const shape = shapeOf(i, options.codexShare);
        const sessions = lanes.map(() => createSession(shape, options.round, i, options.prompts));
        try {
          await runSession(lanes, sessions, options);
        } catch (err) {
          // The session stops: its conversation cannot go on.
          if (!(err instanceof SessionEnded)) for (const lane of lanes) lane.tally.fail((err as Error).message);
        }
      }),
    );
  } finally {
    await Promise.all(lanes.map((lane) => lane.close()));
  }
}
