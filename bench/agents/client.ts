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

/** Every call's figures, in parallel arrays (tens of thousands of calls per run). */
export class Tally {
  readonly kind: Kind[] = [];
  readonly shape: Shape[] = [];
  readonly ttfbMs: number[] = [];
  readonly totalMs: number[] = [];
  readonly requestBytes: number[] = [];
  errors = 0;
  readonly errorMessages = new Map<string, number>();
  /** Calls started and not yet answered (memory is read while sessions are open). */
  inFlight = 0;

  add(kind: Kind, shape: Shape, ttfb: number, total: number, bytes: number): void {
    this.kind.push(kind);
    this.shape.push(shape);
    this.ttfbMs.push(ttfb);
    this.totalMs.push(total);
    this.requestBytes.push(bytes);
  }

  merge(other: Tally): void {
    this.kind.push(...other.kind);
    this.shape.push(...other.shape);
    this.ttfbMs.push(...other.ttfbMs);
    this.totalMs.push(...other.totalMs);
    this.requestBytes.push(...other.requestBytes);
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

/** One model call of a session, through the system; for a client-run loop, the injected call and its follow-up. */
async function call(caller: Caller, system: System, session: Session, mcp: Client | undefined, tally: Tally) {
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
    const result = (await (mcp as Client).callTool({ name: 'echo', arguments: read.tool.input })) as {
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
  tally.add(step.loop ? 'loop' : 'main', session.shape, first.ttfb, total, body.length);
  session.accept(read);
  return read;
}

async function side(caller: Caller, system: System, session: Session, body: string, tally: Tally) {
  const sent = await caller.send(system.anthropic as Endpoint, session.path, session.headers, body);
  const answer = JSON.parse(sent.text) as { content?: Array<{ type: string }> };
  if (answer.content?.[0]?.type !== 'text') throw new Error('side request: no text in the answer');
  tally.add('side', session.shape, sent.ttfb, sent.total, Buffer.byteLength(body));
}

async function runSession(
  session: Session,
  system: System,
  caller: Caller,
  mcp: Client | undefined,
  options: RoundOptions,
  tally: Tally,
) {
  for (let prompt = 0; prompt < session.prompts; prompt++) {
    if (prompt > 0) await sleep(options.thinkMs);
    session.begin(prompt);
    const sideBody = session.side();
    // Claude Code sends its side request beside the prompt's first call.
    const sideDone = sideBody ? side(caller, system, session, sideBody, tally) : undefined;
    try {
      for (;;) {
        const read = await call(caller, system, session, mcp, tally);
        if (!read.tool) break;
        await sleep(options.toolMs);
      }
    } finally {
      await sideDone?.catch((err) => tally.fail((err as Error).message));
    }
  }
}

/** Calls one round makes: every prompt's steps and answer, and the side requests. */
export function expectedCalls(options: RoundOptions): number {
  let calls = 0;
  for (let i = 0; i < options.sessions; i++) calls += callsPerSession(shapeOf(i, options.codexShare), options.prompts);
  return calls;
}

/** Runs `options.sessions` sessions at once against the system, each through all its prompts. */
export async function runRound(system: System, options: RoundOptions, tally: Tally): Promise<void> {
  const caller = new Caller(tally, options.sessions * 2);
  let mcp: Client | undefined;
  if (!system.runsTools) {
    mcp = new Client({ name: 'bench-agents', version: '1' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(options.mcpUrl)));
  }
  try {
    await Promise.all(
      Array.from({ length: options.sessions }, async (_, i) => {
        await sleep((i * options.staggerMs) / options.sessions);
        const session = createSession(shapeOf(i, options.codexShare), options.round, i, options.prompts);
        try {
          await runSession(session, system, caller, mcp, options, tally);
        } catch (err) {
          tally.fail((err as Error).message); // the session stops: its conversation cannot go on
        }
      }),
    );
  } finally {
    await caller.close();
    await mcp?.close();
  }
}
