import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DefaultAnswer, ScriptedAnswers } from './scripted-answers.ts';

/** A fake OpenAI / Anthropic upstream that answers each request with the next queued fixture from `fixtures/`. */

const FIXTURES = new URL('../../fixtures/', import.meta.url);

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body, or undefined when it is empty or not JSON. */
  json: any;
  /** The key it carried (`Authorization: Bearer`, `x-api-key` or Azure's `api-key`), if any. */
  key: string | undefined;
}

/**
 * What a request with a given key gets instead of a fixture: an error status (with `retry-after`
 * when given, in the error shape OpenAI and Anthropic share), or no answer at all (it hangs).
 */
export type KeyAnswer = { status: number; retryAfter?: string } | { hang: true };

/** The key a request carries, as each provider kind sends it upstream. */
export function keyOf(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1];
  const key = bearer ?? headers['x-api-key'] ?? headers['api-key'];
  return typeof key === 'string' ? key : undefined;
}

/** An error body both OpenAI's and Anthropic's SDKs read. */
function errorBody(status: number, message: string): string {
  const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : 'api_error';
  return JSON.stringify({ type: 'error', error: { type, message, code: String(status) } });
}

export type SseChunk = { data: string } | { delayMs: number } | { cut: true } | { hang: true };
export type Fixture =
  | { kind: 'json'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'sse'; chunks: SseChunk[] };

export interface FixtureUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

/** What `fixtures/manifest.json` says a fixture contains (usage normalised as the bridge records it). */
export interface FixtureFacts {
  text: string | null;
  refusal: string | null;
  tool_calls: Array<{ id: string; name: string; arguments: Record<string, unknown> }>;
  thinking: string | null;
  stop_reason: string | null;
  usage: FixtureUsage | null;
  response_id: string | null;
  status: number;
  error: boolean;
}

const cache = new Map<string, Fixture>();

/** Loads (once) a fixture by its path relative to `fixtures/`, e.g. `anthropic-messages/text.sse`. */
export function loadFixture(path: string): Fixture {
  let fixture = cache.get(path);
  if (!fixture) {
    const text = readFileSync(new URL(path, FIXTURES), 'utf8');
    if (path.endsWith('.json')) {
      const file = JSON.parse(text) as { status: number; headers: Record<string, string>; body: unknown };
      fixture = { kind: 'json', status: file.status, headers: file.headers, body: JSON.stringify(file.body) };
    } else if (path.endsWith('.sse')) {
      fixture = { kind: 'sse', chunks: parseSseFixture(text) };
    } else {
      throw new Error(`unknown fixture kind: ${path}`);
    }
    cache.set(path, fixture);
  }
  return fixture;
}

/** The model a fixture's response names (its first `"model"` field): what the upstream says answered. */
export function responseModelOf(path: string): string | undefined {
  const f = loadFixture(path);
  const text = f.kind === 'json' ? f.body : f.chunks.map((c) => ('data' in c ? c.data : '')).join('');
  return /"model":\s*"([^"]+)"/.exec(text)?.[1];
}

const DIRECTIVE = /^: fixture-(?:delay (\d+)|(cut)|(hang))$/;

/** Splits an SSE file into events (each sent as one write) and replay directives (never sent). */
export function parseSseFixture(text: string): SseChunk[] {
  const chunks: SseChunk[] = [];
  for (const block of text.replace(/\r\n/g, '\n').split(/\n{2,}/)) {
    if (!block.trim()) continue;
    const matches = block.split('\n').map((line) => DIRECTIVE.exec(line));
    if (matches.some((m) => !m)) {
      if (matches.some(Boolean)) throw new Error(`a fixture directive must be its own block: ${block}`);
      chunks.push({ data: `${block}\n\n` });
      continue;
    }
    for (const m of matches as RegExpExecArray[]) {
      chunks.push(m[1] ? { delayMs: Number(m[1]) } : m[2] ? { cut: true } : { hang: true });
    }
  }
  return chunks;
}

let manifestCache: Record<string, FixtureFacts> | undefined;

/** The typed contents of `fixtures/manifest.json`, keyed by fixture path. */
export function manifest(): Record<string, FixtureFacts> {
  manifestCache ??= JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as Record<
    string,
    FixtureFacts
  >;
  return manifestCache;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes one chunk and resolves once it is handed to the OS, or the response is gone. */
function write(res: ServerResponse, data: string): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('close', done);
      resolve();
    };
    res.once('close', done);
    res.write(data, done);
  });
}

export class ReplayUpstream {
  readonly url: string;
  readonly requests: UpstreamRequest[] = [];
  /** Requests whose client disconnected before the response ended. */
  aborted = 0;
  #server: Server;
  readonly #answers = new ScriptedAnswers<string, UpstreamRequest>(loadFixture);
  /** Keep every request in `requests` (off for benchmarks, which send hundreds of thousands). */
  keepRequests = true;
  /** Per-key answers that take the place of fixtures (a pool's keys failing each its own way). */
  readonly keyAnswers = new Map<string, KeyAnswer>();
  /** When set, a request whose key is not one of these is refused 401, as a provider refuses an unknown key. */
  acceptedKeys: Set<string> | undefined;
  /** Checks a request the way the real service would before answering; an answer refuses it. */
  gate: ((request: UpstreamRequest) => { status: number; body: string } | undefined) | undefined;

  private constructor(server: Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  /** Listens on `port` (0: any free one; the benchmark fixes it so another gateway can be pointed at it). */
  static async start(listenPort = 0): Promise<ReplayUpstream> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const upstream = new ReplayUpstream(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => void upstream.#handle(req, res));
    return upstream;
  }

  /** Queues fixtures (paths relative to `fixtures/`); each request takes the next one. */
  enqueue(...fixtures: string[]): void {
    this.#answers.enqueue(fixtures);
  }

  /**
   * The fixture served when the queue is empty (otherwise such a request gets a 599); a
   * function picks one per request (e.g. the answer after a tool result in a tool loop).
   */
  setDefault(fixture: DefaultAnswer<string, UpstreamRequest>): void {
    this.#answers.setDefault(fixture);
  }

  reset(): void {
    this.#answers.clear();
    this.requests.length = 0;
    this.aborted = 0;
    this.keyAnswers.clear();
    this.acceptedKeys = undefined;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let cutBySelf = false;
    res.on('close', () => {
      if (!res.writableFinished && !cutBySelf) this.aborted++;
    });
    const parts: Buffer[] = [];
    try {
      for await (const part of req) parts.push(part as Buffer);
    } catch {
      return; // the client went away while sending
    }
    const body = Buffer.concat(parts).toString('utf8');
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {}
    const request = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      json,
      key: keyOf(req.headers),
    };
    if (this.keepRequests) this.requests.push(request);
    const refusal =
      this.acceptedKeys && !this.acceptedKeys.has(request.key ?? '')
        ? { status: 401, body: errorBody(401, 'invalid x-api-key') }
        : this.gate?.(request);
    if (refusal) {
      res.writeHead(refusal.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(refusal.body),
      });
      res.end(refusal.body);
      return;
    }
    const scripted = request.key === undefined ? undefined : this.keyAnswers.get(request.key);
    if (scripted) {
      if ('hang' in scripted) return; // no answer: the client's (or close()'s) to end
      const text = errorBody(scripted.status, `scripted ${scripted.status} for this key`);
      res.writeHead(scripted.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...(scripted.retryAfter ? { 'retry-after': scripted.retryAfter } : {}),
      });
      res.end(text);
      return;
    }

    const name = this.#answers.next(request);
    let fixture: Fixture;
    try {
      if (!name) throw new Error('no fixture queued');
      fixture = loadFixture(name);
    } catch (err) {
      const message = (err as Error).message;
      const payload = JSON.stringify({ error: { message, type: 'replay_upstream_error' } });
      res.writeHead(599, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
      return;
    }

    if (fixture.kind === 'json') {
      res.writeHead(fixture.status, { ...fixture.headers, 'content-length': Buffer.byteLength(fixture.body) });
      res.end(fixture.body);
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (const chunk of fixture.chunks) {
      if (res.destroyed) return;
      if ('data' in chunk) await write(res, chunk.data);
      else if ('delayMs' in chunk) await sleep(chunk.delayMs);
      else if ('cut' in chunk) {
        cutBySelf = true;
        res.socket?.destroy();
        return;
      } else return; // hang: leave the response open until the client (or close()) ends it
    }
    res.end();
  }
}
