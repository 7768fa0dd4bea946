import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { OutgoingEvent, SinkTransport } from './transport.ts';

export interface SyslogSinkOptions {
  host: string;
  port: number;
  tls: boolean;
  /** PEM certificates trusted instead of the system's (a private CA). */
  ca?: string;
  /** How long a batch must stay on a live connection before it counts as delivered. */
  settleMs?: number;
  connectTimeoutMs?: number;
  writeTimeoutMs?: number;
}

/** Facility 13 (log audit), severity 6 (informational). */
const PRI = 13 * 8 + 6;
const APP_NAME = 'aibridge';
const SETTLE_MS = 5_000;
const CONNECT_TIMEOUT_MS = 10_000;
const WRITE_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 2_000;

/** RFC 5424 header fields: printable US-ASCII, no spaces, bounded; empty is NILVALUE. */
const headerField = (value: string, max: number) => value.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';

/** JSON with every non-ASCII character escaped: the same JSON, and a MSG of plain ASCII that needs no BOM. */
const asciiJson = (json: string) =>
  json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const HOST = headerField(hostname(), 255);

/** One event as an RFC 5424 message: `<110>1 TIMESTAMP HOST aibridge PID KIND - {json}`. */
export function syslogMessage(event: OutgoingEvent, pid = process.pid): string {
  const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/.test(event.time) ? event.time : '-';
  return `<${PRI}>1 ${time} ${HOST} ${APP_NAME} ${pid} ${headerField(event.kind, 32)} - ${asciiJson(event.json)}`;
}

/** RFC 6587 octet counting: the message's length in bytes, a space, the message. */
export const octetFrame = (message: string) => `${Buffer.byteLength(message)} ${message}`;

/**
 * RFC 5424 messages over TCP (TLS optional, the server's name checked against its certificate),
 * framed by octet counting. TCP acknowledges nothing a sender can see, so a batch written to the
 * socket counts as delivered only after `settleMs` on a connection still up; when a connection
 * is lost the runner sends again everything not yet settled (the receiver may see repeats). A
 * clean close — the receiver closing after reading to the end — settles everything.
 */
export class SyslogSink implements SinkTransport {
  readonly target: string;
  readonly settleMs: number;
  readonly #options: SyslogSinkOptions;
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #connection = 0;

  constructor(options: SyslogSinkOptions) {
    this.#options = options;
    this.settleMs = options.settleMs ?? SETTLE_MS;
    this.target = `syslog ${options.tls ? 'tls' : 'tcp'}://${options.host}:${options.port}`;
  }

  get connection(): number {
    return this.#connection;
  }

  async deliver(events: readonly OutgoingEvent[], signal: AbortSignal): Promise<void> {
    const socket = await this.#connected(signal);
    const connection = this.#connection;
    const text = events.map((event) => octetFrame(syslogMessage(event))).join('');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(new Error('write timed out')), WRITE_TIMEOUT_MS);
      const onAbort = () => socket.destroy(new Error('stopped'));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.write(text, (err) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else if (connection !== this.#connection || socket.destroyed) reject(new Error('connection lost'));
        else resolve();
      });
    });
  }

  #connected(signal: AbortSignal): Promise<Socket> {
    if (this.#socket && !this.#socket.destroyed) return Promise.resolve(this.#socket);
    this.#connecting ??= this.#connect(signal).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #connect(signal: AbortSignal): Promise<Socket> {
    const { host, port, tls, ca } = this.#options;
    return new Promise((resolve, reject) => {
      const socket = tls
        ? tlsConnect({ host, port, ca, servername: isIP(host) ? undefined : host })
        : tcpConnect({ host, port });
      const ready = tls ? 'secureConnect' : 'connect';
      const fail = (err: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error('connect timed out')), CONNECT_TIMEOUT_MS);
      const onAbort = () => fail(new Error('stopped'));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', fail);
      socket.once(ready, () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', fail);
        socket.setKeepAlive(true, 30_000);
        socket.setNoDelay(true);
        socket.on('error', () => {}); // 'close' follows, which is what counts
        socket.once('close', () => {
          if (this.#socket === socket) this.#lost();
        });
        socket.resume(); // a receiver has nothing to say; read and drop it
        this.#socket = socket;
        resolve(socket);
      });
    });
  }

  #lost(): void {
    this.#socket = undefined;
    this.#connection++;
  }

  async close(): Promise<boolean> {
    const socket = this.#socket;
    if (!socket) return true;
    this.#socket = undefined; // a close from here on is ours, not a lost connection
    return new Promise((resolve) => {
      let ended = false;
      socket.once('end', () => {
        ended = true;
      });
      const timer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
      socket.once('close', (hadError) => {
        clearTimeout(timer);
        resolve(ended && !hadError);
      });
      socket.end();
    });
  }
}
