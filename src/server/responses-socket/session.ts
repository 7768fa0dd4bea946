import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';
import type { Principal } from '../../identity/users.ts';
import type { ApiModule, Json } from '../../intercept/types.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../limits/json-scan.ts';
import type { BridgedRoute } from '../../providers/kind.ts';
import { admitted, type Refuser } from '../admission.ts';
import { tooLargeMessage } from '../body.ts';
import { type BridgedRequest, bridge } from '../bridged.ts';
import type { AppContext } from '../context.ts';
import { authenticateProvider } from '../provider-auth.ts';
import type { ProxyClient } from '../proxy-client.ts';
import { countRefusal } from '../refuse.ts';
import { pinned } from '../runtime.ts';
import { chain, httpRequest, type LastResponse } from './chain.ts';
import { type FrameSink, SocketChannel } from './channel.ts';
import { bridgeErrorFrame, errorFrame, localResponseId, warmupFrames } from './frames.ts';

/** The bridged route a socket serves: a provider's Responses route. */
export interface SocketTarget {
  provider: string;
  route: BridgedRoute;
  api: ApiModule;
}

export interface SocketOptions {
  ctx: AppContext;
  target: SocketTarget;
  /** The upgrade request's path and query: every response's, as an HTTP request's would be. */
  url: string;
  /** The upgrade request's headers, without those of the WebSocket handshake. */
  headers: IncomingHttpHeaders;
  /** Names the socket in log lines. */
  id: string;
  /** Set when the socket came through an intercepted proxy session: who opened it, and how it came. */
  proxied?: { client: ProxyClient; metadata: Record<string, unknown> };
  /** How long the socket may stay open with no response running; 0: no limit. */
  idleMs: number;
  onClose(): void;
}

/** A client that answers no ping for this long is gone: its socket is cut (and a running response aborted). */
const PING_MS = 30_000;
/** Frames a client has not read yet past this: it is not reading, and is cut rather than buffered for. */
const MAX_BUFFERED = 32 * 1024 * 1024;

/**
 * One client's Responses WebSocket (README "Pointing clients at the bridge"): each
 * `response.create` is bridged like an HTTP streaming request to the same route — tools injected,
 * the loop run, recorded, budgeted — one at a time, the events going back as text frames. The
 * socket keeps its last response (id, full input, output) so the next request can carry only
 * what is new; a warm-up (`generate: false`) is answered here, never sent upstream.
 */
export class ResponsesSocket {
  readonly #ws: WebSocket;
  readonly #o: SocketOptions;
  readonly #sink: FrameSink = { send: (text) => this.#send(text) };
  #last: LastResponse | undefined;
  #busy = false;
  /** Set when the socket is to be closed once no response runs. */
  #closeWith: [code: number, reason: string] | undefined;
  #abort: AbortController | undefined;
  #idle: NodeJS.Timeout | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  #answeredPing = true;

  constructor(ws: WebSocket, options: SocketOptions) {
    this.#ws = ws;
    this.#o = options;
    ws.on('message', (data, isBinary) => this.#message(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.#answeredPing = true;
    });
    // Too large a message, invalid UTF-8, a broken frame: ws closes the socket and says why here.
    ws.on('error', (err) => this.#log('debug', { err: err.message }, 'responses websocket error'));
    ws.on('close', () => this.#closed());
    this.#heartbeat = setInterval(() => this.#ping(), PING_MS).unref();
    this.#armIdle();
  }

  /** Shutdown: closes at once when no response runs, else when the running one has ended. */
  closeWhenIdle(): void {
    this.#closeWith = [1001, 'server shutting down'];
    if (!this.#busy) this.#ws.close(...this.#closeWith);
  }

  #message(data: Buffer, isBinary: boolean): void {
    const parsed = isBinary ? undefined : parseMessage(data);
    if (this.#busy) {
      // Codex waits for each response's last event before it sends the next request.
      if (parsed && 'message' in parsed && parsed.message.type === 'response.create') {
        this.#refuse('invalid_request', 'a response is already running on this WebSocket: send one at a time');
      }
      return;
    }
    if (!parsed || 'error' in parsed) {
      this.#refuse('invalid_request', parsed?.error ?? 'send each message as one JSON text frame, not binary');
      return;
    }
    // Other messages (acknowledgements newer clients send) need no answer.
    if (parsed.message.type !== 'response.create') return;
    this.#busy = true;
    this.#clearIdle();
    this.#respond(parsed.message)
      .catch((err) => this.#log('error', { err }, 'responses websocket request failed'))
      .finally(() => {
        this.#busy = false;
        if (this.#closeWith) this.#ws.close(...this.#closeWith);
        else this.#armIdle();
      });
  }

  async #respond(message: Json): Promise<void> {
    const { ctx, target } = this.#o;
    const chained = chain(message, this.#last);
    if ('error' in chained) {
      countRefusal(ctx, this.#provider(), 'invalid_request');
      const param = chained.error === 'previous_response_not_found' ? 'previous_response_id' : 'input';
      const code = chained.error === 'previous_response_not_found' ? chained.error : null;
      this.#send(errorFrame(400, { type: 'invalid_request_error', code, message: chained.message, param }));
      return;
    }
    const warmup = message.generate === false;
    const input = warmup ? 'warmup' : chained.chained ? 'chained' : 'full';
    ctx.metrics.websocketRequests.labels(target.provider, input).inc();
    this.#last = undefined; // whatever this response's fate, it is the one a next request would follow
    const limit = ctx.config.limits.body_bytes;
    if (warmup) {
      // Warm-ups chained on warm-ups would grow the input the socket keeps without end: it stays
      // within what one request may carry, as a response's input does.
      if (chained.fullInput && Buffer.byteLength(JSON.stringify(chained.fullInput)) > limit) {
        return this.#refuse('too_large', tooLargeMessage(limit));
      }
      const id = localResponseId();
      for (const frame of warmupFrames(id, message)) this.#send(frame);
      if (chained.fullInput) this.#last = { id, input: chained.fullInput, output: [] };
      return;
    }
    if (message.background === true) {
      return this.#refuse(
        'invalid_request',
        'background: responses run in the background are not served over WebSocket',
      );
    }
    const { body, headers } = httpRequest(message, chained.input);
    const raw = Buffer.from(JSON.stringify(body));
    if (raw.length > limit) return this.#refuse('too_large', tooLargeMessage(limit));

    const channel = new SocketChannel(this.#sink);
    const abort = new AbortController();
    this.#abort = abort;
    const request = this.#request(raw, headers);
    try {
      await pinned(ctx, target.provider, async (ctx, provider) => {
        const refuse: Refuser = (kind, message, options = {}) => {
          countRefusal(ctx, provider, kind, options.reason);
          channel.error(kind, message, options.headers);
        };
        // Checked again for every response: a token revoked while its socket is open stops working.
        const auth = await authenticateProvider(ctx, provider, this.#o.headers, request.log, this.#o.proxied?.client);
        if ('refusal' in auth) {
          const { kind, message, options } = auth.refusal;
          refuse(kind, message, options);
          if (kind === 'authentication') this.#closeWith = [1008, 'the AI Bridge token is no longer valid'];
          return;
        }
        if (abort.signal.aborted) return;
        const principal: Principal = auth.principal;
        await admitted(ctx, principal, refuse, () =>
          bridge({
            ctx,
            provider,
            route: target.route,
            api: target.api,
            principal,
            ownKey: auth.ownKey,
            request,
            channel,
            signal: abort.signal,
            metadata: { transport: 'websocket', ...this.#o.proxied?.metadata },
          }),
        );
      });
    } catch (err) {
      // A bug must not leave the client waiting or show it internals.
      request.log.error({ err }, 'interception failed');
      channel.error('internal', `internal error (request id ${request.id})`);
    } finally {
      this.#abort = undefined;
    }
    const ending = channel.settle();
    if ('completed' in ending && chained.fullInput) {
      this.#last = { id: ending.completed, input: chained.fullInput, output: ending.items };
    }
  }

  /** A response's request as the HTTP route's would be: the upgrade's headers, with this message's own. */
  #request(body: Buffer, headers: Record<string, string>): BridgedRequest {
    const id = randomUUID();
    const fields = { request_id: id, socket_id: this.#o.id };
    const logger = this.#o.ctx.logger;
    return {
      id,
      method: 'POST',
      url: this.#o.url,
      params: {},
      headers: { ...this.#o.headers, ...headers },
      body,
      bodyScan: undefined,
      log: {
        warn: (f, message) => logger.warn({ ...fields, ...f }, message),
        error: (f, message) => logger.error({ ...fields, ...f }, message),
      },
    };
  }

  /** A refusal of a message, counted, as an error frame. */
  #refuse(kind: Parameters<Refuser>[0], message: string): void {
    countRefusal(this.#o.ctx, this.#provider(), kind);
    this.#send(bridgeErrorFrame(kind, message));
  }

  #send(text: string): void {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) {
      this.#log('warn', { buffered: ws.bufferedAmount }, 'responses websocket client is not reading; closing it');
      ws.terminate();
      return;
    }
    ws.send(text);
  }

  #ping(): void {
    if (!this.#answeredPing) {
      this.#log('debug', {}, 'responses websocket client stopped answering pings; closing it');
      this.#ws.terminate();
      return;
    }
    this.#answeredPing = false;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
  }

  #armIdle(): void {
    this.#clearIdle();
    const { idleMs } = this.#o;
    if (idleMs > 0) this.#idle = setTimeout(() => this.#ws.close(1000, 'idle'), idleMs).unref();
  }

  #clearIdle(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  /** The client is gone (closed, dropped, cut): a running response's upstream call and tools stop. */
  #closed(): void {
    this.#clearIdle();
    clearInterval(this.#heartbeat);
    this.#abort?.abort();
    this.#last = undefined;
    this.#o.onClose();
  }

  #provider() {
    return this.#o.ctx.providers.find((p) => p.name === this.#o.target.provider);
  }

  #log(level: 'debug' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    this.#o.ctx.logger[level]({ socket_id: this.#o.id, provider: this.#o.target.provider, ...fields }, message);
  }
}

/** A message as an object, or why it is not one (the same checks as an HTTP body's). */
function parseMessage(data: Buffer): { message: Json } | { error: string } {
  if (nestsDeeperThan(data)) return { error: `message nests JSON deeper than ${MAX_JSON_DEPTH} levels` };
  let message: unknown;
  try {
    message = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return { error: `message is not valid JSON: ${(err as Error).message}` };
  }
  if (!message || typeof message !== 'object' || Array.isArray(message))
    return { error: 'message must be a JSON object' };
  return { message: message as Json };
}
