import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';

/** How the receiver answers: takes the batch, fails it with a 500, or never answers. */
export type ReceiverMode = 'ok' | 'fail' | 'hang';

/**
 * A SIEM's HTTP ingest endpoint on loopback, checking what one would: the method, the
 * bearer token, a JSON body of `{"events":[…]}` with every event of the audit schema. It keeps
 * what it took, in arrival order (repeats included), and can fail, hang, or go away.
 */
export class AuditReceiver {
  readonly events: any[] = [];
  mode: ReceiverMode = 'ok';
  /** Requests answered 500, refused (bad token, bad body), and left hanging. */
  readonly counts = { failed: 0, refused: 0, hanging: 0 };
  readonly port: number;
  readonly #token: string;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(port: number, token: string) {
    this.port = port;
    this.#token = token;
  }

  static async start(port: number, token: string): Promise<AuditReceiver> {
    const receiver = new AuditReceiver(port, token);
    await receiver.listen();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/ingest`;
  }

  /** Listens (again) on its port. */
  async listen(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.#server = server;
  }

  /** Goes away: the port refuses connections, and hanging requests are cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.mode === 'hang') {
      this.counts.hanging++;
      return;
    }
    if (this.mode === 'fail') {
      this.counts.failed++;
      res.writeHead(500).end('ingest unavailable');
      return;
    }
    let events: any[];
    try {
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/ingest') throw new Error(`${req.method} ${req.url}`);
      if (req.headers.authorization !== `Bearer ${this.#token}`) throw new Error('bad token');
      if (!/^application\/json/.test(req.headers['content-type'] ?? '')) throw new Error('not JSON');
      events = JSON.parse(Buffer.concat(chunks).toString('utf8')).events;
      if (!Array.isArray(events) || !events.length) throw new Error('no events');
      for (const event of events) {
        if (event.schema !== 'aibridge.audit/1' || !event.kind || !event.id || !event.interception_id)
          throw new Error(`not an audit event: ${JSON.stringify(event).slice(0, 200)}`);
      }
    } catch (err) {
      this.counts.refused++;
      res.writeHead(400).end((err as Error).message);
      return;
    }
    this.events.push(...events);
    res.writeHead(204).end();
  }
}

/** `kind:id` of each record in a journal directory, in journal order: what a sink must deliver. */
export function journalKeys(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^journal-\d+\.ndjson$/.test(name))
    .sort()
    .flatMap((name) =>
      readFileSync(join(dir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const op = JSON.parse(line);
          return `${op.kind}:${op.kind === 'interception_ended' ? op.id : op.doc._id}`;
        }),
    );
}

/** Event keys in the order they first arrived (a repeat after a failure is at-least-once, not disorder). */
export function firstArrivals(events: ReadonlyArray<{ kind: string; id: string }>): string[] {
  return [...new Set(events.map((event) => `${event.kind}:${event.id}`))];
}
