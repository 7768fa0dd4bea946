import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A chat tool's incoming webhook on loopback, checking what one would: a POST of JSON, no
 * larger than a notification should be. It keeps every notification it took, and can refuse
 * the next few with 503 (the sender must retry).
 */
export class BudgetWebhook {
  readonly received: any[] = [];
  /** Requests answered 503 on purpose, and requests refused as malformed. */
  readonly counts = { failed: 0, malformed: 0 };
  failNext = 0;
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<BudgetWebhook> {
    const server = createServer();
    const hook = new BudgetWebhook(server);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
        if (body.length > 16_384) req.destroy();
      });
      req.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/json') || !json) {
          hook.counts.malformed++;
          res.writeHead(400).end();
          return;
        }
        if (hook.failNext > 0) {
          hook.failNext--;
          hook.counts.failed++;
          res.writeHead(503).end();
          return;
        }
        hook.received.push(json);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return hook;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/aibridge?token=s3cret`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
