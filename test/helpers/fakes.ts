import type { ClientChannel } from '../../src/intercept/client-channel.ts';
import type { InterceptionEvents } from '../../src/intercept/events.ts';
import type { UpstreamReply } from '../../src/intercept/upstream.ts';
import { errorResult } from '../../src/mcp/tool-result.ts';
import type { InjectedTool, RequestBridge, ToolCallResult, ToolClaim } from '../../src/mcp/types.ts';
import type { BridgeErrorKind } from '../../src/providers/errors.ts';
import type { SseEvent } from '../../src/providers/sse.ts';
import type { Recorder } from '../../src/recorder/recorder-port.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { loadFixture } from './upstream.ts';

/** Fakes behind the project's own interfaces, for unit tests that run without servers or a database. */

/** One ordered log of what fakes saw, so tests can assert what happened before what. */
export type Timeline = string[];

/** A body that yields its chunks and then, optionally, breaks like a cut connection. */
function replyBody(chunks: string[], breaksWith?: Error): UpstreamReply['body'] {
  return {
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) yield Buffer.from(chunk);
      if (breaksWith) throw breaksWith;
    },
    async text() {
      if (breaksWith) throw breaksWith;
      return chunks.join('');
    },
  };
}

/** A fixture of `fixtures/` as the upstream's reply, as undici would hand it over (delays are skipped). */
export function fixtureReply(path: string): UpstreamReply {
  const fixture = loadFixture(path);
  if (fixture.kind === 'json') {
    return { statusCode: fixture.status, headers: fixture.headers, body: replyBody([fixture.body]) };
  }
  const chunks: string[] = [];
  let breaksWith: Error | undefined;
  for (const chunk of fixture.chunks) {
    if ('data' in chunk) chunks.push(chunk.data);
    else if ('cut' in chunk || 'hang' in chunk) {
      breaksWith = new Error('other side closed');
      break;
    }
  }
  return { statusCode: 200, headers: { 'content-type': 'text/event-stream' }, body: replyBody(chunks, breaksWith) };
}

/** The SSE events of a fixture, parsed as the bridge's parser would see them. */
export function fixtureEvents(path: string): SseEvent[] {
  const fixture = loadFixture(path);
  if (fixture.kind !== 'sse') throw new Error(`${path} is not an SSE fixture`);
  return fixture.chunks.flatMap((chunk) => {
    if (!('data' in chunk)) return [];
    let event: string | undefined;
    const data: string[] = [];
    for (const line of chunk.data.trimEnd().split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    return [{ event, data: data.join('\n'), raw: chunk.data }];
  });
}

/** The upstream: answers each call with the next queued fixture and keeps what it was sent. */
export class FakeUpstream {
  readonly bodies: unknown[] = [];
  readonly #queue: string[];
  constructor(...fixtures: string[]) {
    this.#queue = fixtures;
  }
  readonly send = async (body: Buffer | string): Promise<UpstreamReply> => {
    this.bodies.push(JSON.parse(body.toString()));
    const next = this.#queue.shift();
    if (!next) throw new Error('no fixture queued');
    return fixtureReply(next);
  };
}

type DocOp = Exclude<RecordOp, { kind: 'interception_ended' }>;
type DocOf = { [O in DocOp as O['kind']]: O['doc'] };

export class FakeRecorder implements Recorder {
  readonly ops: RecordOp[] = [];
  readonly timeline: Timeline;
  constructor(timeline: Timeline = []) {
    this.timeline = timeline;
  }
  record(op: RecordOp): void {
    this.ops.push(op);
    this.timeline.push(`record ${op.kind}`);
  }
  /** The documents of one kind, in the order they were handed over. */
  docs<K extends keyof DocOf>(kind: K): DocOf[K][] {
    return this.ops.filter((op) => op.kind === kind).map((op) => (op as DocOp).doc as DocOf[K]);
  }
  get ended(): Extract<RecordOp, { kind: 'interception_ended' }> | undefined {
    return this.ops.find((op) => op.kind === 'interception_ended') as
      | Extract<RecordOp, { kind: 'interception_ended' }>
      | undefined;
  }
}

/** The client's side of the HTTP response: what it was sent, and in what order. */
export class FakeChannel implements ClientChannel {
  started = false;
  status: number | undefined;
  headers: Record<string, unknown> = {};
  body = '';
  ended = false;
  readonly timeline: Timeline;
  constructor(timeline: Timeline = []) {
    this.timeline = timeline;
  }
  #head(status: number, headers: Record<string, unknown>) {
    this.started = true;
    this.status = status;
    this.headers = headers;
    this.timeline.push(`head ${status}`);
  }
  openStream(headers: Record<string, unknown>): void {
    this.#head(200, headers);
  }
  write(text: string): void {
    this.body += text;
    this.timeline.push('write');
  }
  sendRaw(headers: Record<string, unknown>, body: string): void {
    this.#head(200, headers);
    this.body = body;
    this.end();
  }
  sendJson(headers: Record<string, unknown>, body: unknown): void {
    this.#head(200, headers);
    this.body = JSON.stringify(body);
    this.end();
  }
  async relay(reply: UpstreamReply): Promise<void> {
    this.#head(reply.statusCode, reply.headers);
    this.body = await reply.body.text();
    this.end();
  }
  error(kind: BridgeErrorKind, message: string): void {
    if (!this.started) {
      this.#head(kind === 'upstream' ? 502 : 500, {});
      this.body = JSON.stringify({ error: { kind, message } });
    }
    this.end();
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.timeline.push('end');
  }
  /** The `data:` payloads written, parsed (comments and `[DONE]` left out). */
  get dataEvents(): any[] {
    return this.body
      .split('\n\n')
      .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')))
      .map((l) => l.slice(6))
      .filter((d) => d !== '[DONE]')
      .map((d) => JSON.parse(d));
  }
}

const tool = (server: string, rawName: string): InjectedTool => ({
  name: `bmcp_${server}_${rawName}`,
  server,
  serverUrl: `http://mcp.test/${server}`,
  rawName,
  description: `${rawName} on ${server}`,
  inputSchema: { type: 'object', properties: {} },
});

/**
 * The MCP side: tools of server `test` that answer after `delayMs`, counting how many run at
 * once; `refused` servers are configured but not this user's, so their names are claimed and refused.
 */
export class FakeToolBridge implements RequestBridge {
  readonly tools: readonly InjectedTool[];
  readonly called: string[] = [];
  running = 0;
  peak = 0;
  readonly #delayMs: number;
  readonly #refused: Record<string, string>;
  readonly #answers: Record<string, (args: unknown) => ToolCallResult['content']>;

  constructor(
    options: {
      tools?: string[];
      delayMs?: number;
      refused?: Record<string, string>;
      answers?: Record<string, (args: unknown) => ToolCallResult['content']>;
    } = {},
  ) {
    this.tools = (options.tools ?? ['echo', 'slow']).map((name) => tool('test', name));
    this.#delayMs = options.delayMs ?? 0;
    this.#refused = options.refused ?? {};
    this.#answers = options.answers ?? {};
  }

  claim(name: string): ToolClaim | undefined {
    const listed = this.tools.find((t) => t.name === name);
    if (listed) return { tool: listed, listed: true, refusal: null };
    const server = /^bmcp_([a-z0-9-]+)_(.+)$/.exec(name);
    if (!server) return undefined;
    const [, serverName = '', rawName = ''] = server;
    if (serverName !== 'test' && !(serverName in this.#refused)) return undefined;
    return { tool: tool(serverName, rawName), listed: false, refusal: this.#refused[serverName] ?? null };
  }

  async call(name: string, args: unknown): Promise<ToolCallResult> {
    const listed = this.tools.find((t) => t.name === name);
    if (!listed) return { ...errorResult(`unknown tool "${name}"`), durationMs: 0 };
    this.called.push(name);
    this.peak = Math.max(this.peak, ++this.running);
    await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
    this.running--;
    const answer = this.#answers[listed.rawName];
    const content = answer
      ? answer(args)
      : [{ type: 'text' as const, text: `${listed.rawName}: ${JSON.stringify(args)}` }];
    return { content, isError: false, error: null, durationMs: this.#delayMs };
  }
}

/** An observer that only notes the order of events (for loop tests that care about sequence, not records). */
export class EventLog implements InterceptionEvents {
  readonly timeline: Timeline;
  constructor(timeline: Timeline = []) {
    this.timeline = timeline;
  }
  started(): void {
    this.timeline.push('started');
  }
  async processing<T>(fn: () => Promise<T>): Promise<T> {
    this.timeline.push('processing');
    return fn();
  }
  async upstreamStarted<T>(send: () => Promise<T>): Promise<T> {
    this.timeline.push('upstreamStarted');
    return send();
  }
  upstreamEnded(outcome: { turn: unknown } | { error: string }): void {
    this.timeline.push('turn' in outcome ? 'upstreamEnded' : `upstreamEnded: ${outcome.error}`);
  }
  turnSettled(): void {
    this.timeline.push('turnSettled');
  }
  async toolStarted(_tool: unknown, _callId: string, run: () => Promise<ToolCallResult>): Promise<ToolCallResult> {
    this.timeline.push('toolStarted');
    return run();
  }
  toolRan(): void {
    this.timeline.push('toolRan');
  }
  ended({ status }: { status: string }): undefined {
    this.timeline.push(`ended ${status}`);
    return undefined;
  }
}
