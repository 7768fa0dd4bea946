import { createServer } from 'node:net';

/** What the common listen failures mean, in words an operator acts on. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be resolved',
};

/** A start-up failure to bind; its message is the one line `aibridge server` prints. */
export class ListenError extends Error {}

export function listenError(err: unknown, listen: string): ListenError {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const reason = REASONS[code] ?? (err as Error)?.message ?? String(err);
  return new ListenError(`cannot listen on ${listen}: ${reason}`);
}

/**
 * Binds and releases the address before anything else starts, so the common failure (a second
 * `npm start`) stops before a store, journal or MCP connection is opened. The real listen still
 * handles the race where another process takes the port in between.
 */
export function checkCanListen(host: string, port: number, listen: string): Promise<void> {
  if (!port) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(listenError(err, listen)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Probes the bridge's address and, when configured, the intercepting proxy's (named as its setting). */
export async function checkCanListenAll(config: { listen: string; proxy?: { listen: string } }): Promise<void> {
  const { host, port } = splitListen(config.listen);
  await checkCanListen(host, port, config.listen);
  if (!config.proxy) return;
  const proxy = splitListen(config.proxy.listen);
  await checkCanListen(proxy.host, proxy.port, `${config.proxy.listen} (proxy.listen)`);
}

/** `host:port` (IPv6 in brackets) → its parts. */
export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}
