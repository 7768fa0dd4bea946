import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import { answer, ESTABLISHED, PROXY_AUTHENTICATE } from './answers.ts';
import type { CertificateAuthority } from './ca.ts';
import type { ProxyFacts } from './facts.ts';
import { type HostMap, mapHosts } from './hosts.ts';
import { interceptSession } from './intercept.ts';
import { LeafCertificates, type LeafOptions } from './leaf.ts';
import { type ConnectResult, NO_METRICS, type ProxyMetrics } from './metrics.ts';
import { proxyToken } from './proxy-auth.ts';
import { formatHostPort, type HostPort, parseHostPort } from './target.ts';
import { openTunnel, splice, TunnelRefusal } from './tunnel.ts';

export interface ProxyLimits {
  /** Largest CONNECT header block (431 above it). */
  maxHeaderBytes: number;
  /** A CONNECT whose headers have not all arrived by then gets 408. */
  headersTimeoutMs: number;
  /** Resolving and connecting a tunnel's target, together. */
  connectTimeoutMs: number;
  /** The client's TLS handshake on an intercepted session. */
  handshakeTimeoutMs: number;
  /** A tunnel with no byte either way for this long is closed. */
  idleTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /**
   * Connections from one address not yet past Proxy-Authorization; more get 429. A client that
   * never finishes its headers holds its slot for headersTimeoutMs: without this, one address
   * could hold every slot of maxConnections without a token.
   */
  maxUnauthenticatedPerSource: number;
}

export const DEFAULT_PROXY_LIMITS: ProxyLimits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  maxConnections: 4_096,
  maxUnauthenticatedPerSource: 256,
};

/** Once one side of a tunnel has ended, how long the other may stay silent before both close. */
const HALF_OPEN_TIMEOUT_MS = 30_000;

/** What the proxy serves, tunnels or refuses: read by each CONNECT, so a reload can change it (`update`). */
export interface ProxyPolicy {
  /** `proxy.hosts`: host (port 443) or `host:port` → provider name. */
  hosts: Record<string, string>;
  /** Every other CONNECT: tunnelled byte for byte (default) or refused with 403. */
  tunnel?: 'allow' | 'deny';
  /** Whether tunnels may reach loopback, private and link-local addresses and this machine (default no). */
  tunnelPrivate?: boolean;
}

interface ActivePolicy {
  hosts: HostMap;
  tunnel: 'allow' | 'deny';
  tunnelPrivate: boolean;
}

/** Throws on a malformed `hosts` key, as mapHosts does. */
const activePolicy = (policy: ProxyPolicy): ActivePolicy => ({
  hosts: mapHosts(policy.hosts),
  tunnel: policy.tunnel ?? 'allow',
  tunnelPrivate: policy.tunnelPrivate ?? false,
});

export interface InterceptingProxyOptions<P> extends ProxyPolicy {
  /** `host:port`; port 0 takes a free one (see `url`). */
  listen: string;
  ca: CertificateAuthority;
  leafOptions?: LeafOptions;
  /** The bridge token → who it is; null when it identifies nobody; throws when it cannot be checked now. */
  authenticate(token: string): Promise<P | null>;
  /**
   * Takes an intercepted session, decrypted, once its handshake is done; the bridge passes it to
   * its HTTP server (`server.emit('connection', socket)`), whose requests then find the facts
   * with `routeProxiedRequest(req)` / `proxyFactsOf(req.socket)`.
   */
  serve(socket: TLSSocket, facts: ProxyFacts<P>): void;
  /** `host:port` of the bridge's own listeners: tunnels there would be loops. */
  bridgeAddresses?: string[];
  metrics?: ProxyMetrics;
  logger: Logger;
  limits?: Partial<ProxyLimits>;
}

export interface InterceptingProxy {
  /** `http://host:port` as clients set it in HTTPS_PROXY (with the port actually bound). */
  readonly url: string;
  readonly address: HostPort;
  readonly leaves: LeafCertificates;
  /** Takes a new policy for CONNECTs from now on (sessions and tunnels already open keep going); throws on a malformed host. */
  update(policy: ProxyPolicy): void;
  /**
   * Stops taking CONNECTs at once; the tunnels and intercepted sessions still open get `graceMs`
   * (default 0) to finish, then are closed. Resolves when the last one is gone.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * The intercepting HTTPS proxy (README "Clients that cannot set a base URL"): an HTTP proxy
 * that serves only CONNECT, authenticated with the bridge token in Proxy-Authorization. A
 * CONNECT to a mapped host is answered by the bridge itself: TLS terminated with a leaf
 * certificate from the bridge's CA, the decrypted socket handed to `serve`. Any other CONNECT
 * is tunnelled byte for byte or refused, as the policy's `tunnel` says.
 */
export async function startInterceptingProxy<P>(options: InterceptingProxyOptions<P>): Promise<InterceptingProxy> {
  const limits = { ...DEFAULT_PROXY_LIMITS, ...options.limits };
  const listen = parseHostPort(options.listen, 0);
  if (!listen) throw new Error(`proxy.listen: "${options.listen}" is not host:port`);
  let policy = activePolicy(options);
  const metrics = options.metrics ?? NO_METRICS;
  const log = options.logger;
  const leaves = new LeafCertificates(options.ca, options.leafOptions);
  const bridgePorts = (options.bridgeAddresses ?? []).map((a) => parseHostPort(a, 0)?.port ?? 0).filter(Boolean);
  const ownPorts = new Set<number>(bridgePorts);
  const open = new Set<Socket>();

  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };

  /** Connections per source address still waiting to authenticate, and how each leaves that count. */
  const waiting = new Map<string, number>();
  const authenticated = new WeakMap<Socket, () => void>();
  const awaitAuthentication = (socket: Socket): boolean => {
    const source = socket.remoteAddress ?? '';
    const count = waiting.get(source) ?? 0;
    if (count >= limits.maxUnauthenticatedPerSource) return false;
    waiting.set(source, count + 1);
    let counted = true;
    const leave = () => {
      if (!counted) return;
      counted = false;
      const left = (waiting.get(source) ?? 1) - 1;
      if (left > 0) waiting.set(source, left);
      else waiting.delete(source);
    };
    authenticated.set(socket, leave);
    socket.once('close', leave);
    return true;
  };

  const refuse = (
    socket: Socket,
    result: ConnectResult,
    status: number,
    message: string,
    headers?: Record<string, string>,
    target?: HostPort,
  ) => {
    metrics.connectSession(result);
    // The target, once known, says which client host was kept out (what an operator adds to proxy.hosts).
    log.debug({ result, status, target: target && formatHostPort(target) }, 'proxy: CONNECT refused');
    answer(socket, status, message, headers);
  };

  async function tunnelTo(socket: Socket, head: Buffer, target: HostPort, allowPrivate: boolean) {
    let upstream: Socket;
    try {
      upstream = await openTunnel(target, { allowPrivate, ownPorts }, limits.connectTimeoutMs);
    } catch (err) {
      if (!(err instanceof TunnelRefusal)) throw err;
      refuse(socket, err.result, err.status, err.message, undefined, target);
      return;
    }
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    track(upstream);
    metrics.connectSession('tunnelled');
    log.debug({ host: target.host, port: target.port }, 'proxy: tunnelling');
    socket.write(ESTABLISHED);
    if (head.length) {
      metrics.tunnelledBytes(head.length);
      upstream.write(head);
    }
    splice(socket, upstream, {
      idleTimeoutMs: limits.idleTimeoutMs,
      halfOpenTimeoutMs: Math.min(HALF_OPEN_TIMEOUT_MS, limits.idleTimeoutMs),
      onBytes: (bytes) => metrics.tunnelledBytes(bytes),
    });
  }

  async function onConnect(req: IncomingMessage, socket: Socket, head: Buffer) {
    if (!socket.writable) return socket.destroy(); // answered already (too many waiting from its address)
    const target = parseHostPort(req.url ?? '');
    if (!target) {
      refuse(socket, 'bad_request', 400, 'CONNECT needs host:port (an IPv6 address in brackets)');
      return;
    }
    const token = proxyToken(req.headers['proxy-authorization']);
    if (!token) {
      refuse(
        socket,
        'unauthenticated',
        407,
        'this proxy needs the bridge token in Proxy-Authorization: Basic (any user name, the token as password) or Bearer',
        PROXY_AUTHENTICATE,
      );
      return;
    }
    let principal: P | null;
    try {
      principal = await options.authenticate(token);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'proxy: cannot check a token now');
      refuse(socket, 'auth_unavailable', 503, 'the bridge cannot check tokens right now; try again shortly');
      return;
    }
    if (!principal) {
      refuse(socket, 'unauthenticated', 407, 'the proxy token is not valid', PROXY_AUTHENTICATE);
      return;
    }
    authenticated.get(socket)?.();
    if (socket.destroyed) return;
    const { hosts, tunnel, tunnelPrivate } = policy; // as it is now, after the wait for authentication
    const provider = hosts.byAddress.get(formatHostPort(target));
    if (provider) {
      const leaf = await leaves.leafFor(target.host);
      if (socket.destroyed) return;
      const facts = { host: target.host, port: target.port, provider, principal };
      interceptSession(socket, head, {
        facts,
        context: leaf.context,
        handshakeTimeoutMs: limits.handshakeTimeoutMs,
        serve: options.serve,
        metrics,
        log,
      });
      return;
    }
    if (hosts.names.has(target.host)) {
      // A mapped host reached on another port would pass the bridge by: it is neither served nor tunnelled.
      refuse(
        socket,
        'denied',
        403,
        `${target.host} is served by the bridge only on its mapped port`,
        undefined,
        target,
      );
      return;
    }
    if (tunnel === 'deny') {
      refuse(
        socket,
        'denied',
        403,
        'this proxy serves only the hosts it is configured for (proxy.tunnel: deny)',
        undefined,
        target,
      );
      return;
    }
    await tunnelTo(socket, head, target, tunnelPrivate);
  }

  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 0,
    // How often the headers deadline is checked: often enough that it holds to within half of it.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2))),
  });
  server.maxConnections = limits.maxConnections;

  server.on('connection', (socket: Socket) => {
    track(socket);
    socket.on('error', (err) => log.debug({ err: err.message }, 'proxy: client connection error'));
    if (!awaitAuthentication(socket)) {
      metrics.connectSession('too_many');
      answer(socket, 429, 'too many connections from this address are waiting to authenticate');
    }
  });

  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    onConnect(req, socket, head).catch((err: Error) => {
      log.error({ err: err.message }, 'proxy: CONNECT failed');
      refuse(socket, 'error', 500, 'the proxy failed to handle this CONNECT');
    });
  });

  // Only CONNECT is proxied: a plain or absolute-form request (GET http://…) is not forwarded.
  server.on('request', (req, res) => {
    metrics.connectSession('not_connect');
    const body = JSON.stringify({
      error: { message: 'this proxy serves only CONNECT (use it as HTTPS_PROXY for https:// URLs)' },
    });
    res.writeHead(405, {
      Allow: 'CONNECT',
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    });
    res.end(body);
    req.resume();
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    metrics.connectSession('bad_request');
    const [status, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request headers too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request headers not received in time']
          : [400, 'malformed request'];
    answer(socket, status, message);
  });

  server.listen({ host: listen.host, port: listen.port });
  try {
    await once(server, 'listening');
  } catch (err) {
    throw new Error(
      `cannot listen on ${options.listen}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  server.on('error', (err) => log.error({ err: err.message }, 'proxy: listener error'));
  const bound = server.address() as AddressInfo;
  ownPorts.add(bound.port);
  const address = { host: listen.host, port: bound.port };
  let closing: Promise<void> | undefined;

  return {
    url: `http://${formatHostPort(address)}`,
    address,
    leaves,
    update(next) {
      policy = activePolicy(next);
    },
    close(graceMs = 0) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve()); // called once every connection the proxy accepted is gone
        const destroyAll = () => {
          for (const socket of open) socket.destroy();
        };
        if (graceMs > 0) setTimeout(destroyAll, graceMs).unref();
        else destroyAll();
      });
      return closing;
    },
  };
}
