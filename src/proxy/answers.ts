import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** What the proxy writes on a client's socket itself: before a tunnel or session starts, or instead of one. */
export const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
export const PROXY_AUTHENTICATE = { 'Proxy-Authenticate': 'Basic realm="aibridge"' };

/** A complete HTTP response for a raw socket: JSON error body, connection closing. */
function rawResponse(status: number, message: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error: { message } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Answers and closes: the response is flushed first, then the socket goes even if the client keeps it open. */
export function answer(socket: Socket, status: number, message: string, headers?: Record<string, string>): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawResponse(status, message, headers), () => socket.destroy());
}
