import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, expect } from 'vitest';
import type { CertificateAuthority } from '../../src/proxy/ca.ts';
import { openCa, proxyDir } from '../../src/proxy/ca-files.ts';
import { type ProxyFacts, routeProxiedRequest } from '../../src/proxy/facts.ts';
import type { ConnectResult, ProxyMetrics } from '../../src/proxy/metrics.ts';
import {
  type InterceptingProxy,
  type InterceptingProxyOptions,
  startInterceptingProxy,
} from '../../src/proxy/server.ts';
import { loadFixture, manifest } from './upstream.ts';

/** What the stand-in bridge saw of one request that came through the proxy. */
export interface SeenRequest {
  method: string;
  /** The URL after routeProxiedRequest: `/<provider>/...`. */
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
  facts: ProxyFacts<{ username: string }> | undefined;
  encrypted: boolean;
}

/** The recorded provider answer for a routed path, blocking or streaming, from `fixtures/`. */
function fixtureFor(url: string, stream: boolean): string | undefined {
  const kind = stream ? 'sse' : 'json';
  if (url === '/anthropic/v1/messages') return `anthropic-messages/text.${kind}`;
  if (url === '/openai/v1/chat/completions') return `openai-chat/text.${kind}`;
  return undefined;
}

/**
 * The bridge's HTTP server as the proxy meets it: a plain node:http server that never listens,
 * fed the decrypted sockets (`emit('connection')`), routing each request with
 * routeProxiedRequest and answering provider routes with recorded fixtures.
 */
export class StandInBridge {
  readonly server: Server;
  readonly requests: SeenRequest[] = [];
  readonly serve = (socket: Socket) => this.server.emit('connection', socket);

  constructor() {
    this.server = createServer(async (req, res) => {
      const facts = routeProxiedRequest<{ username: string }>(req);
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const text = Buffer.concat(parts).toString('utf8');
      const body = text ? JSON.parse(text) : undefined;
      const url = req.url ?? '';
      this.requests.push({
        method: req.method ?? '',
        url,
        headers: req.headers,
        body,
        facts,
        encrypted: Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted),
      });
      const name = fixtureFor(url, body?.stream === true);
      if (!name) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url}` } }));
        return;
      }
      const fixture = loadFixture(name);
      if (fixture.kind === 'json') {
        res.writeHead(fixture.status, { 'content-type': 'application/json' });
        res.end(fixture.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const chunk of fixture.chunks) if ('data' in chunk) res.write(chunk.data);
      res.end();
    });
  }

  close(): void {
    this.server.closeAllConnections();
  }
}

/** Counts kept in memory, as the Prometheus series would hold them. */
export class CountingMetrics implements ProxyMetrics {
  readonly sessions = new Map<ConnectResult, number>();
  readonly mitm = new Map<string, number>();
  bytes = 0;
  connectSession(result: ConnectResult): void {
    this.sessions.set(result, (this.sessions.get(result) ?? 0) + 1);
  }
  mitmRequest(host: string): void {
    this.mitm.set(host, (this.mitm.get(host) ?? 0) + 1);
  }
  tunnelledBytes(bytes: number): void {
    this.bytes += bytes;
  }
  count(result: ConnectResult): number {
    return this.sessions.get(result) ?? 0;
  }
}

/** A pino logger whose lines are kept, to check what the proxy writes (and never writes). */
export function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export interface ProxyAnswer {
  status: number;
  /** The status line and header lines, as sent. */
  head: string;
  body: string;
  /** Still open after a 200: the tunnel or the session to speak TLS on. */
  socket: Socket;
}

/**
 * Sends `request` (a CONNECT or anything else, raw) to the proxy and reads its answer: for a
 * 200 as soon as the head has arrived, the socket left open for what comes next; otherwise
 * the whole response until the proxy closes the connection.
 */
export function askProxy(port: number, request: string | Buffer): Promise<ProxyAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = () => {
      if (settled) return;
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = text.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status === 200) {
        settled = true;
        socket.removeListener('data', onData);
        socket.pause(); // what follows waits for whoever takes the socket: resume() or pipe it
        const rest = received.subarray(end + 4);
        if (rest.length) socket.unshift(rest);
        resolve({ status, head, body: '', socket });
      }
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      finish();
    };
    socket.on('data', onData);
    socket.on('error', (err) => {
      if (!settled) reject(err);
    });
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(new Error(`the proxy closed without a complete answer: ${JSON.stringify(text)}`));
        return;
      }
      const head = text.slice(0, end);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: text.slice(end + 4), socket });
    });
    socket.write(request);
  });
}

/** A CONNECT request for `target`, with a Proxy-Authorization when given. */
export function connectRequest(target: string, authorization?: string, extra = ''): string {
  const auth = authorization ? `Proxy-Authorization: ${authorization}\r\n` : '';
  return `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}${extra}\r\n`;
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export const PROXY_TOKEN = 'abt_proxy-test-token-4f9c2e';
export const ANN = { username: 'ann' };
export const MAPPED_HOSTS = { 'api.anthropic.com': 'anthropic', 'api.openai.com': 'openai', '10.9.8.7': 'openai' };

export interface ProxyFixture {
  /** The bridge's own CA, created for the file's tests. */
  ca(): CertificateAuthority;
  caFile(): string;
  bridge: StandInBridge;
  logs: ReturnType<typeof capturingLogger>;
  /** A proxy on a free loopback port, closed after the file's tests. */
  start(overrides?: Partial<InterceptingProxyOptions<typeof ANN>>): Promise<{
    proxy: InterceptingProxy;
    metrics: CountingMetrics;
  }>;
}

/**
 * Registers the set-up of a test file about the proxy: a CA in a temporary data_dir, the
 * stand-in bridge, a log that is checked, at the end, never to hold the token.
 */
export function useInterceptingProxy(tempDir: () => string): ProxyFixture {
  let ca: CertificateAuthority | undefined;
  let caFile = '';
  const bridge = new StandInBridge();
  const logs = capturingLogger();
  const proxies: InterceptingProxy[] = [];
  beforeAll(async () => {
    const dir = tempDir();
    ca = await openCa({ dir: proxyDir(dir) });
    caFile = join(proxyDir(dir), 'ca.crt');
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    bridge.close();
    expect(logs.lines.join('')).not.toContain(PROXY_TOKEN);
  });
  return {
    ca: () => ca!,
    caFile: () => caFile,
    bridge,
    logs,
    async start(overrides = {}) {
      const metrics = new CountingMetrics();
      const proxy = await startInterceptingProxy<typeof ANN>({
        listen: '127.0.0.1:0',
        hosts: MAPPED_HOSTS,
        tunnelPrivate: true, // the tunnelled servers of the tests are on loopback
        ca: ca!,
        authenticate: async (token) => (token === PROXY_TOKEN ? ANN : null),
        serve: bridge.serve,
        logger: logs.logger,
        metrics,
        ...overrides,
      });
      proxies.push(proxy);
      return { proxy, metrics };
    },
  };
}

/** Polls a condition the proxy reaches after the client already saw the outcome (a metric, a log line). */
export async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

/** The text a recorded fixture answers with, as fixtures/manifest.json states it. */
export function manifestText(path: string): string {
  return manifest()[path]!.text!;
}
