import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** Requests SDKs and fetch cannot send: fetch normalises `..` and `%2e%2e` away; these send the path as given. */

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send `Expect: 100-continue` and the body only once the server says 100 Continue (as curl does). */
  expectContinue?: boolean;
}

/** One HTTP/1.1 request on a fresh connection, the path exactly as given. */
export function rawRequest(base: string, path: string, options: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(base);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (body) headers['content-length'] = String(body.length);
  if (options.expectContinue) headers.expect = '100-continue';
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method: options.method ?? 'GET',
      path,
      headers,
      agent: false,
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (options.expectContinue && body) req.on('continue', () => req.end(body));
    else req.end(body);
  });
}

/**
 * Writes raw bytes on a TCP connection and collects everything the server answers until it
 * closes; rejects if the connection is reset (what a proper 4xx must never turn into).
 */
export function rawExchange(base: string, data: Buffer | string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(data);
  });
}
