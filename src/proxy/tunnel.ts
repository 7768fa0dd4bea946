import { lookup } from 'node:dns/promises';
import { connect, isIP, type Socket } from 'node:net';
import type { ConnectResult } from './metrics.ts';
import { type HostPort, interfaceAddresses, isOwnAddress, isPrivateAddress } from './target.ts';

export interface TunnelPolicy {
  /** Whether tunnels may reach loopback, private and link-local addresses. */
  allowPrivate: boolean;
  /** Ports this process serves (the proxy's, the bridge's): on an own address they would be a loop. */
  ownPorts: ReadonlySet<number>;
}

/** Why a tunnel cannot be opened: the status to answer, the metric result, a message for the client. */
export class TunnelRefusal extends Error {
  readonly status: number;
  readonly result: ConnectResult;
  constructor(status: number, result: ConnectResult, message: string) {
    super(message);
    this.status = status;
    this.result = result;
  }
}

function withDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TunnelRefusal(504, 'upstream_failed', `${what} timed out`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * The addresses a tunnel to `target` may use, resolved once (so the address checked is the
 * address connected to). Refused: every address is this process (508, a loop), or private
 * or this machine's while those are not allowed (403).
 */
async function addressesFor(target: HostPort, policy: TunnelPolicy, deadline: number): Promise<string[]> {
  let addresses: string[];
  if (isIP(target.host)) {
    addresses = [target.host];
  } else {
    try {
      const found = await withDeadline(lookup(target.host, { all: true }), deadline, `resolving ${target.host}`);
      addresses = found.map((entry) => entry.address);
    } catch (err) {
      if (err instanceof TunnelRefusal) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new TunnelRefusal(502, 'upstream_failed', `cannot resolve ${target.host} (${code})`);
    }
  }
  const interfaces = interfaceAddresses();
  const own = new Set(addresses.filter((a) => isOwnAddress(a, interfaces)));
  const loops = addresses.filter((a) => policy.ownPorts.has(target.port) && own.has(a));
  // This machine counts as private on every address it has, public ones included: its other services are not the internet.
  const usable = addresses.filter(
    (a) => !loops.includes(a) && (policy.allowPrivate || !(isPrivateAddress(a) || own.has(a))),
  );
  if (usable.length) return usable;
  if (loops.length) {
    throw new TunnelRefusal(508, 'loop', 'this CONNECT leads back to the bridge itself; it is refused');
  }
  throw new TunnelRefusal(
    403,
    'denied',
    'tunnels to this machine or to loopback, private or link-local addresses are not allowed',
  );
}

function connectTo(address: string, port: number, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Half-closes pass through a tunnel as they came: each side ends only when its peer does.
    const socket = connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error('ETIMEDOUT')), Math.max(0, deadline - Date.now()));
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays attached: an error between connecting and being spliced must not go unhandled.
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A TCP connection to `target` within `timeoutMs` (resolving included), trying its allowed addresses in turn. */
export async function openTunnel(target: HostPort, policy: TunnelPolicy, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  const addresses = await addressesFor(target, policy, deadline);
  let last: unknown;
  for (const address of addresses) {
    if (Date.now() >= deadline) break;
    try {
      return await connectTo(address, target.port, deadline);
    } catch (err) {
      last = err;
    }
  }
  const code = (last as NodeJS.ErrnoException | undefined)?.code ?? (last as Error | undefined)?.message ?? 'timed out';
  const status = code === 'ETIMEDOUT' || code === 'timed out' ? 504 : 502;
  throw new TunnelRefusal(status, 'upstream_failed', `cannot reach ${target.host}:${target.port} (${code})`);
}

export interface SpliceOptions {
  /** A tunnel with no byte either way for this long is closed. */
  idleTimeoutMs: number;
  /** Once one side has ended, the other gets this long (of silence) to finish. */
  halfOpenTimeoutMs: number;
  onBytes(bytes: number): void;
}

/** Joins two sockets byte for byte; both are destroyed together, on error, idleness or close. */
export function splice(client: Socket, upstream: Socket, options: SpliceOptions): void {
  let closed = false;
  const closeBoth = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
  };
  const halfOpen = () => {
    client.setTimeout(options.halfOpenTimeoutMs);
    upstream.setTimeout(options.halfOpenTimeoutMs);
  };
  for (const socket of [client, upstream]) {
    socket.on('data', (chunk: Buffer) => options.onBytes(chunk.length));
    socket.on('error', closeBoth);
    socket.on('close', closeBoth);
    socket.on('timeout', closeBoth);
    socket.once('end', halfOpen);
    socket.setTimeout(options.idleTimeoutMs);
  }
  client.pipe(upstream);
  upstream.pipe(client);
}
