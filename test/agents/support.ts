import { spawn } from 'node:child_process';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Harness } from '../helpers/harness.ts';
import { waitUntil } from '../helpers/process.ts';
import type { UpstreamRequest } from '../helpers/upstream.ts';
import type { AgentCli } from './install.ts';

const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'coder-session-token', 'proxy-authorization']);

/** Header values as strings, with credentials replaced, so they can be shown in a failure. */
export function safeHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = SECRET_HEADERS.has(k) ? '<redacted>' : Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** One request an agent sent to the bridge, and how the bridge answered it. */
export interface Exchange {
  method: string;
  path: string;
  /** Request headers, credentials redacted. */
  headers: Record<string, string>;
  /** Which credential header the client used (never its value). */
  credential: 'authorization' | 'x-api-key' | null;
  /** A WebSocket (or other) upgrade attempt. */
  upgrade: boolean;
  status: number;
  responseHeaders: Record<string, string>;
  body: any;
}

export interface Tap {
  url: string;
  exchanges: Exchange[];
  reset(): void;
  close(): Promise<void>;
}

function credentialOf(headers: IncomingHttpHeaders): Exchange['credential'] {
  if (headers.authorization) return 'authorization';
  if (headers['x-api-key']) return 'x-api-key';
  return null;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** What the tap keeps of one request, before the answer is known. */
function exchangeOf(req: IncomingMessage, upgrade: boolean, body: unknown): Exchange {
  return {
    method: req.method ?? '',
    path: req.url ?? '',
    headers: safeHeaders(req.headers),
    credential: credentialOf(req.headers),
    upgrade,
    status: 0,
    responseHeaders: {},
    body,
  };
}

/**
 * A transparent recording proxy in front of the bridge: the agents talk to it as if it were the
 * bridge, and it keeps every request (and the status the bridge answered) to compare with the
 * bridge's records. Responses stream through untouched.
 */
export async function startTap(target: string): Promise<Tap> {
  const to = new URL(target);
  const exchanges: Exchange[] = [];
  const sockets = new Set<Socket>();
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    let json: any;
    try {
      json = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {}
    const exchange = exchangeOf(req, false, json);
    exchanges.push(exchange);
    const headers = { ...req.headers, host: to.host };
    const forward = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers },
      (upstream) => {
        exchange.status = upstream.statusCode ?? 0;
        exchange.responseHeaders = safeHeaders(upstream.headers);
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
      },
    );
    forward.on('error', (err) => {
      exchange.status = 599;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`tap: ${err.message}`);
    });
    res.on('close', () => forward.destroy());
    forward.end(body);
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const exchange = exchangeOf(req, true, undefined);
    exchanges.push(exchange);
    const bridge = connect(Number(to.port), to.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i] as string;
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? to.host : req.rawHeaders[i + 1]}`);
      }
      bridge.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) bridge.write(head);
      bridge.pipe(socket);
      socket.pipe(bridge);
    });
    bridge.once('data', (chunk: Buffer) => {
      exchange.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0);
    });
    bridge.on('error', () => socket.destroy());
    socket.on('close', () => bridge.destroy());
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    reset: () => {
      exchanges.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await shut(server);
    },
  };
}

export interface EgressSink {
  url: string;
  /** `CONNECT host:port` or `METHOD url` of every attempt to leave the machine. */
  attempts: string[];
  close(): Promise<void>;
}

/**
 * An HTTP(S) proxy that refuses everything: given to the agents as HTTPS_PROXY/HTTP_PROXY (with
 * loopback in NO_PROXY), it shows any traffic they try to send anywhere but the bridge.
 */
export async function startEgressSink(): Promise<EgressSink> {
  const attempts: string[] = [];
  const server = createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(403).end();
  });
  server.on('connect', (req, socket: Socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, attempts, close: () => shut(server) };
}

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** The machine's environment minus anything that could point an agent elsewhere or carry a credential. */
export function baseEnv(extra: Record<string, string>): Record<string, string> {
  const keep = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SYSTEMROOT', 'TERM'];
  const env: Record<string, string> = {};
  for (const k of keep) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, NO_COLOR: '1', CI: '1', ...extra };
}

/** Runs an agent CLI to completion (killing its process group after `timeoutMs`). */
export function runAgent(
  cli: AgentCli,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<AgentRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli.command, [...cli.prefix, ...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout ends the CLI's children too
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
  });
}

/** Replaces every secret in a text before it is shown. */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('<redacted>');
  return out;
}

/** A one-paragraph account of a run, secrets removed, for failure messages. */
export function describeRun(run: AgentRun, secrets: string[]): string {
  const tail = (s: string) => (s.length > 4000 ? `…${s.slice(-4000)}` : s);
  return redact(
    `exit ${run.code}${run.signal ? ` (${run.signal})` : ''}${run.timedOut ? ' after the timeout' : ''}\n` +
      `--- stdout\n${tail(run.stdout)}\n--- stderr\n${tail(run.stderr)}`,
    secrets,
  );
}

/** True when the secret appears anywhere the upstream could see it (headers, path, body). */
export function upstreamSaw(requests: UpstreamRequest[], secret: string): boolean {
  return requests.some(
    (r) => r.path.includes(secret) || r.body.includes(secret) || JSON.stringify(r.headers).includes(secret),
  );
}

export interface Recorded {
  interception: any;
  prompts: any[];
  tokens: any[];
  tools: any[];
}

/**
 * Every interception the bridge recorded since `since`, oldest first, with its children, once
 * `count` of them have ended.
 */
export async function recordedSince(h: Harness, since: Date, count: number): Promise<Recorded[]> {
  let rows: Awaited<ReturnType<typeof h.store.audit.list>> = [];
  await waitUntil(async () => {
    await h.bridge.ctx.recorder.flush();
    rows = (await h.store.audit.list({ started_after: new Date(since.getTime() - 1) }, { limit: 1000 })).reverse();
    return rows.length >= count && rows.every((r) => r.interception.ended_at !== null);
  }, 20_000).catch(() => {});
  return rows.map((r) => ({
    interception: r.interception,
    prompts: r.user_prompts,
    tokens: r.token_usages,
    tools: r.tool_usages,
  }));
}

/** The four token counters recorded (README, "Token figures"), as the manifest states them. */
export const usageOf = (t: any) => ({
  input_tokens: t.input_tokens,
  output_tokens: t.output_tokens,
  cache_read_input_tokens: t.cache_read_input_tokens,
  cache_write_input_tokens: t.cache_write_input_tokens,
});

/** With AIBRIDGE_AGENTS_TRACE=1, prints what an agent sent (credentials redacted) and what the upstream got. */
export function traceTraffic(label: string, tap: Tap, upstream: UpstreamRequest[], egress: string[] = []): void {
  if (process.env.AIBRIDGE_AGENTS_TRACE !== '1') return;
  const lines = [`[agents] ${label}`];
  for (const e of tap.exchanges) {
    lines.push(
      `  client ${e.upgrade ? 'UPGRADE ' : ''}${e.method} ${e.path} → ${e.status} (${e.credential ?? 'no credential'})`,
    );
    lines.push(`    ${JSON.stringify(e.headers)}`);
    if (e.body && typeof e.body === 'object') {
      const b = e.body;
      lines.push(
        `    body: model=${b.model} stream=${b.stream} keys=${Object.keys(b).join(',')} tools=${(b.tools ?? [])
          .map((t: any) => t.name ?? t.type)
          .join(',')}`,
      );
    }
  }
  for (const r of upstream) lines.push(`  upstream ${r.method} ${r.path} ${JSON.stringify(safeHeaders(r.headers))}`);
  for (const a of egress) lines.push(`  egress ${a}`);
  console.log(lines.join('\n'));
}
