import { randomUUID } from 'node:crypto';
import { type IncomingHttpHeaders, type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import { parseDuration } from '../../duration.ts';
import { API_MODULES } from '../../intercept/apis.ts';
import { type BridgeErrorKind, statusOf } from '../../providers/errors.ts';
import { isLoop } from '../../providers/hop.ts';
import { routeProxiedRequest } from '../../proxy/facts.ts';
import type { AppContext } from '../context.ts';
import { requestIdOf } from '../front-door.ts';
import { pathProblem } from '../path-guard.ts';
import { authenticateProvider } from '../provider-auth.ts';
import { proxyClientOf, proxyMetadataOf } from '../proxy-client.ts';
import { countRefusal, errorFor, errorHeaders, providerOf, type RouteProvider } from '../refuse.ts';
import { ROUTE_ROOTS } from '../route-roots.ts';
import { ResponsesSocket, type SocketTarget } from './session.ts';

/**
 * Open Responses WebSockets one user may hold (per process): each keeps its last request's input
 * for the next, so many of them are memory a single token could pin. Codex holds one per session.
 */
export const MAX_SOCKETS_PER_USER = 64;

/**
 * The paths a Responses WebSocket is served on: every provider's Responses route under each root
 * (`/P/v1/responses`, `/api/v2/aibridge/P/v1/responses`…), whatever kind bridges Responses. A
 * compaction route takes no tools and is not one (Codex calls it over HTTP).
 */
function socketPaths(ctx: AppContext): Map<string, SocketTarget> {
  const paths = new Map<string, SocketTarget>();
  for (const provider of ctx.providers) {
    for (const route of provider.kind.bridged) {
      if (route.api !== 'responses' || route.tools === false || route.target || route.path.includes(':')) continue;
      for (const root of ROUTE_ROOTS) {
        paths.set(`${root}/${provider.name}${route.path}`, {
          provider: provider.name,
          route,
          api: API_MODULES[route.api],
        });
      }
    }
  }
  return paths;
}

/** The upgrade's headers as every response's request carries them: without the handshake's. */
function requestHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('sec-websocket-') || name === 'upgrade' || name === 'connection') continue;
    if (name === 'openai-beta' && typeof value === 'string') {
      // The transport's own beta flag: an HTTP upstream must not be told the request came over a socket.
      const flags = value
        .split(',')
        .map((flag) => flag.trim())
        .filter((flag) => flag && !flag.startsWith('responses_websockets'));
      if (flags.length) kept[name] = flags.join(', ');
      continue;
    }
    kept[name] = value;
  }
  return kept;
}

/** Answers an upgrade with a plain HTTP error in the provider's format (or `{message}` off its routes), then closes. */
function refuseUpgrade(
  ctx: AppContext,
  socket: Duplex,
  provider: RouteProvider | undefined,
  kind: BridgeErrorKind,
  message: string,
  options: { headers?: Record<string, string>; reason?: Parameters<typeof countRefusal>[3]; status?: number } = {},
): void {
  countRefusal(ctx, provider, kind, options.reason);
  const status = options.status ?? statusOf(kind);
  const format = provider?.kind.errors;
  const body = JSON.stringify(errorFor(format, kind, message));
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...errorHeaders(format, kind),
    ...options.headers,
  };
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  if (!socket.writable) return void socket.destroy();
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Serves Responses over WebSocket (Codex's default transport) on every provider's Responses
 * route; any other upgrade is refused with an HTTP answer. The token is checked on the upgrade's
 * headers before the 101, so an unauthenticated client costs its headers only. The 101 is a bare
 * one: no subprotocol, and none of the headers Codex reads model or routing hints from.
 */
export function responsesSockets(app: FastifyInstance, ctx: AppContext): void {
  const paths = socketPaths(ctx);
  const sockets = new Set<ResponsesSocket>();
  const perUser = new Map<string, number>();
  let closing = false;
  const server = new WebSocketServer({
    noServer: true,
    // One message is one request: the same bound as an HTTP body.
    maxPayload: ctx.config.limits.body_bytes,
    perMessageDeflate: false,
    clientTracking: false,
  });

  app.addHook('preClose', async () => {
    closing = true;
    for (const socket of sockets) socket.closeWhenIdle();
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {}); // a client gone mid-handshake is not the server's error
    upgrade(req, socket, head).catch((err) => {
      ctx.logger.error({ err, path: req.url?.split('?')[0] }, 'websocket upgrade failed');
      socket.destroy();
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    requestIdOf(req);
    routeProxiedRequest(req); // through the intercepting proxy: counted, and named by the provider's route
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    const target = paths.get(path);
    const routeProvider = target ? ctx.providers.find((p) => p.name === target.provider) : providerOf(ctx, url);
    const problem = pathProblem(url);
    if (problem) {
      return refuseUpgrade(ctx, socket, routeProvider, 'invalid_request', `${problem}; it is refused, not normalised`);
    }
    if (isLoop(req.headers)) {
      return refuseUpgrade(
        ctx,
        socket,
        routeProvider,
        'loop_detected',
        'loop detected: this request already passed through this bridge',
      );
    }
    if (!target || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      // 426 makes a client that offers a WebSocket it does not need (Codex on a route without one) use HTTP at once.
      const message = `WebSocket is served on /<provider>/v1/responses only, not on ${path}; use HTTP`;
      return refuseUpgrade(ctx, socket, routeProvider, 'invalid_request', message, { status: 426 });
    }
    const provider = ctx.providers.find((p) => p.name === target.provider);
    if (!provider) return refuseUpgrade(ctx, socket, undefined, 'not_found', `no route for ${path}`);
    if (closing) {
      return refuseUpgrade(ctx, socket, provider, 'overloaded', 'the bridge is shutting down; retry shortly', {
        headers: { 'retry-after': '1' },
      });
    }
    const proxyClient = proxyClientOf(req);
    const auth = await authenticateProvider(ctx, provider, req.headers, ctx.logger, proxyClient);
    if ('refusal' in auth) {
      const { kind, message, options } = auth.refusal;
      return refuseUpgrade(ctx, socket, provider, kind, message, options);
    }
    const userId = auth.principal.user._id;
    const held = perUser.get(userId) ?? 0;
    if (held >= MAX_SOCKETS_PER_USER) {
      const message = `${auth.principal.user.username} has ${held} WebSockets open, the most one user may; close one or use HTTP`;
      return refuseUpgrade(ctx, socket, provider, 'rate_limited', message, { headers: { 'retry-after': '5' } });
    }
    if (socket.destroyed) return; // the client left while its token was checked
    perUser.set(userId, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (perUser.get(userId) ?? 1) - 1;
      if (left > 0) perUser.set(userId, left);
      else perUser.delete(userId);
    };
    // ws answers a malformed handshake itself (400) and never calls back: the count is given back with the socket.
    socket.once('close', release);
    server.handleUpgrade(req, socket, head, (ws) => {
      const id = randomUUID();
      const session = new ResponsesSocket(ws, {
        ctx,
        target,
        url,
        headers: requestHeaders(req.headers),
        id,
        proxied: proxyClient && { client: proxyClient, metadata: proxyMetadataOf(req) ?? {} },
        idleMs: parseDuration(ctx.config.limits.websocket_idle),
        onClose: () => {
          sockets.delete(session);
          release();
          ctx.metrics.websocketsOpen.labels(target.provider).dec();
        },
      });
      sockets.add(session);
      ctx.metrics.websocketConnections.labels(target.provider).inc();
      ctx.metrics.websocketsOpen.labels(target.provider).inc();
      ctx.logger.debug(
        { socket_id: id, provider: target.provider, user_id: auth.principal.user._id },
        'responses websocket opened',
      );
    });
  }
}
