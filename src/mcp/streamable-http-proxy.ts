import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  ErrorCode,
  ListToolsResultSchema,
  McpError,
  type Tool,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { parseDuration } from '../duration.ts';
import type { Logger } from '../observability/logger.ts';
import { inSpan, tracedFetch } from '../observability/tracing.ts';
import { parseByteSize } from '../recorder/sanitize.ts';
import { boundedFetch } from './bounded-fetch.ts';
import { firstLine, httpErrorText } from './http-error.ts';
import { hideUrlSecrets, shownUrl } from './shown-url.ts';
import {
  DEFAULT_MAX_TOOLS_BYTES,
  type ListBounds,
  leftOut,
  MAX_LISTED_TOOLS,
  MAX_PAGES,
  ToolBudget,
} from './tool-bounds.ts';
import { injectedName, toolFilter } from './tool-names.ts';
import { errorResult, mapToolResult } from './tool-result.ts';
import { TracedTransport } from './traced-transport.ts';
import type { InjectedTool, McpServerConfig, McpServerStatus, ToolCallResult } from './types.ts';

export interface ProxyOptions {
  logger: Logger;
  /** Per-user headers, set over the configured ones (names compared case-insensitively). */
  headers?: Record<string, string>;
  /** Logged with every line of a per-user proxy; never a header value. */
  userId?: string;
  /** Bound on one connect attempt (initialize + every tools/list page). */
  connectTimeoutMs?: number;
  /** Background reconnect backoff: first delay, doubled per failure up to the cap. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Called once after close(), so owners can forget the proxy. */
  onClose?: () => void;
}

const CLIENT_INFO = { name: 'aibridge', version: '0.1.0' };
const PING_TIMEOUT_MS = 5_000;

/** One reading of a server's tool list: what is kept, and what its bounds left out. */
interface Listing {
  tools: InjectedTool[];
  bounds: ListBounds;
}

const NOTHING_LEFT_OUT = '0|';

/**
 * One MCP server connection over streamable HTTP. It never throws at callers: a server
 * that is down is reported in status() and retried in the background, and failed calls
 * come back as isError results the model can read.
 */
export class StreamableHTTPServerProxy {
  readonly name: string;
  readonly url: string;
  /** The URL without its secrets: what status(), recorded tool calls and error text show. */
  readonly shownUrl: string;
  /** The entry it was made from: a reload keeps the proxy when its entry is unchanged. */
  readonly config: McpServerConfig;
  readonly #headers: Record<string, string>;
  readonly #keep: (rawName: string) => boolean;
  readonly #callTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxToolsBytes: number;
  /** Sessions ended because an answer passed max_response_bytes, and why. */
  readonly #cuts = new WeakMap<Client, Error>();
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #log: Logger;
  readonly #onClose: (() => void) | undefined;
  readonly #listeners = new Set<() => void>();

  #state: McpServerStatus['state'] = 'connecting';
  #lastError: string | null = null;
  #lastHttpStatus: number | undefined;
  #tools: readonly InjectedTool[] = [];
  #byRaw = new Map<string, InjectedTool>();
  #bounds: ListBounds | undefined;
  /** What the last WARN said was left out, so a list read again unchanged is not logged again. */
  #boundsLogged = NOTHING_LEFT_OUT;
  #duplicatesLogged = 0;
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #checking = false;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;

  constructor(config: McpServerConfig, options: ProxyOptions) {
    this.name = config.name;
    this.url = config.url;
    this.shownUrl = shownUrl(config.url);
    this.config = config;
    const headers = new Headers(config.headers);
    for (const [k, v] of Object.entries(options.headers ?? {})) headers.set(k, v);
    this.#headers = Object.fromEntries(headers);
    this.#keep = toolFilter(config.tool_allow_regex, config.tool_deny_regex);
    this.#callTimeoutMs = parseDuration(config.call_timeout || '60s') || 60_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#maxResponseBytes = parseByteSize(config.max_response_bytes ?? '8MiB');
    this.#maxToolsBytes = parseByteSize(config.max_tools_bytes ?? DEFAULT_MAX_TOOLS_BYTES);
    this.#retryInitialMs = options.retryInitialMs ?? 1_000;
    this.#retryMaxMs = options.retryMaxMs ?? 30_000;
    this.#log = options.logger.child({
      mcp_server: config.name,
      ...(options.userId ? { user_id: options.userId } : {}),
    });
    this.#onClose = options.onClose;
  }

  /** Sorted by name; a new array whenever the list changes, so callers can compare by identity. */
  get tools(): readonly InjectedTool[] {
    return this.#tools;
  }

  /** What this server's own bounds (max_tools_bytes, pages read) left out of its last list. */
  get bounds(): ListBounds | undefined {
    return this.#bounds;
  }

  get state(): McpServerStatus['state'] {
    return this.#state;
  }

  /** The HTTP status the server refused the last connect attempt with; undefined when it was unreachable or fine. */
  get refusedWith(): number | undefined {
    return this.#state === 'failed' ? this.#lastHttpStatus : undefined;
  }

  status(): McpServerStatus {
    const closed = this.#state === 'closed';
    const left = closed ? undefined : leftOut(this.#bounds);
    return {
      state: this.#state,
      url: this.shownUrl,
      tools: closed ? 0 : this.#tools.length,
      last_error: this.#lastError,
      ...(left ? { left_out: left } : {}),
    };
  }

  /** Subscribes to tool list changes; returns the unsubscribe function. */
  onToolsChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One bounded connect attempt; on failure the proxy keeps retrying in the background. Resolves to ready-or-not. */
  init(): Promise<boolean> {
    return inSpan('StreamableHTTPServerProxy.Init', { mcp_server_name: this.name }, async () => {
      try {
        await this.#connect();
        return true;
      } catch (err) {
        this.#failed(err);
        return false;
      }
    });
  }

  /** Calls a tool by its raw MCP name; only tools in the current (filtered) list are callable. */
  async callTool(rawName: string, args: unknown, options: { signal?: AbortSignal } = {}): Promise<ToolCallResult> {
    const started = performance.now();
    const done = (r: Omit<ToolCallResult, 'durationMs'>): ToolCallResult => ({
      ...r,
      durationMs: Math.round(performance.now() - started),
    });
    if (this.#state === 'closed') return done(errorResult(`MCP server "${this.name}" is closed`));
    if (args !== undefined && args !== null && (typeof args !== 'object' || Array.isArray(args))) {
      return done(errorResult(`arguments for tool "${rawName}" must be a JSON object`));
    }
    if (!this.#client && this.#connecting) await this.#connecting.catch(() => {});
    if (!this.#client) return done(errorResult(this.#unavailable()));
    if (!this.#byRaw.has(rawName)) {
      return done(errorResult(`unknown tool "${rawName}" on MCP server "${this.name}"`));
    }
    const params = { name: rawName, arguments: (args ?? {}) as Record<string, unknown> };
    for (let attempt = 0; ; attempt++) {
      const client = this.#client;
      if (!client) return done(errorResult(this.#unavailable()));
      try {
        const result = await client.callTool(params, undefined, {
          timeout: this.#callTimeoutMs,
          signal: options.signal,
        });
        if (!('content' in result)) return done(errorResult('the MCP server returned no content'));
        return done(mapToolResult(result as CallToolResult));
      } catch (err) {
        if (options.signal?.aborted) return done(errorResult(`tool call "${rawName}" was cancelled`));
        const cut = this.#cuts.get(client);
        if (cut) return done(errorResult(`tool call "${rawName}" failed: ${cut.message}`));
        if (isTimeout(err))
          return done(errorResult(`tool call "${rawName}" timed out after ${this.#callTimeoutMs} ms`));
        if (!isConnectionLoss(err)) return done(errorResult(`tool call "${rawName}" failed: ${this.#message(err)}`));
        await this.#recover(client, err);
        // A lost session (404) means the server never ran the call, so one retry is safe.
        if (attempt > 0 || !isSessionLost(err)) return done(errorResult(this.#unavailable(err)));
      }
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    // The list stays, so a request still holding this proxy is told "closed", not "unknown tool".
    this.#listeners.clear();
    await client?.close().catch(() => {});
    this.#onClose?.();
  }

  /** A method, not a field read, so TypeScript does not keep a narrowing across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** An error's text without the URL's secrets (fetch names the URL it could not use). */
  #message(err: unknown): string {
    return hideUrlSecrets(message(err), this.url);
  }

  /** Why the server is not ready, for /readyz, `mcp check` and the logs: one bounded line. */
  #reason(err: unknown): string {
    return firstLine(this.#message(err));
  }

  #unavailable(err?: unknown): string {
    const why = err ? this.#message(err) : this.#lastError;
    return `MCP server "${this.name}" is unavailable${why ? `: ${why}` : ''}`;
  }

  /** Single flight: concurrent callers share one attempt. */
  #connect(): Promise<void> {
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    if (this.#state === 'closed') throw new Error('closed');
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const transport = new TracedTransport(new URL(this.url), {
      requestInit: { headers: this.#headers },
      // Carries the active span's traceparent when tracing is on; one answer at most max_response_bytes.
      fetch: boundedFetch(tracedFetch, this.#maxResponseBytes, (err) => {
        // The SDK would wait on a cut stream for ever: end the session, so its calls fail now.
        this.#cuts.set(client, err);
        void this.#recover(client, err);
      }),
      // The SDK's own stream resumption is off: a drop surfaces as an error and we reconnect whole.
      reconnectionOptions: {
        maxRetries: 0,
        initialReconnectionDelay: 1_000,
        maxReconnectionDelay: 30_000,
        reconnectionDelayGrowFactor: 2,
      },
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      this.#refresh(client);
    });
    client.onerror = (err) => this.#onTransportError(client, err);
    client.onclose = () => {
      if (this.#client === client) void this.#recover(client, new Error('connection closed'));
    };
    const deadline = timeLimit(this.#connectTimeoutMs);
    try {
      await client.connect(transport, { timeout: this.#connectTimeoutMs, signal: deadline.signal });
      const listing = await this.#fetchTools(client, deadline.signal);
      if (this.#isClosed()) throw new Error('closed');
      this.#client = client;
      this.#setTools(listing);
      this.#state = 'ready';
      this.#lastError = null;
      this.#attempt = 0;
      this.#log.info({ tools: listing.tools.length }, 'MCP server connected');
    } catch (err) {
      await client.close().catch(() => {});
      throw deadline.signal.aborted ? new Error(`no answer within ${this.#connectTimeoutMs} ms`) : err;
    } finally {
      deadline.clear();
    }
  }

  /**
   * Every page of tools/list, as far as the bounds allow: at most MAX_PAGES pages and
   * MAX_LISTED_TOOLS tools are read, and of those only the first by name that fit in
   * max_tools_bytes are kept, so a server listing without end costs a bounded read and hold.
   */
  #fetchTools(client: Client, signal: AbortSignal): Promise<Listing> {
    return inSpan('StreamableHTTPServerProxy.Init.fetchTools', { mcp_server_name: this.name }, async () => {
      const budget = new ToolBudget(this.#maxToolsBytes);
      const seen = new Set<string>();
      const duplicates: string[] = [];
      let listed = 0;
      let unread: string | null = null;
      let cursor: string | undefined;
      for (let page = 1; ; page++) {
        // Not client.listTools(): it compiles a validator for each tool's output schema, which
        // the bridge never uses and a server could make as costly as it likes.
        const result = await client.request(
          cursor === undefined ? { method: 'tools/list' } : { method: 'tools/list', params: { cursor } },
          ListToolsResultSchema,
          { timeout: this.#connectTimeoutMs, signal },
        );
        listed += result.tools.length;
        budget.add(this.#toInjected(result.tools, seen, duplicates));
        if (!result.nextCursor || result.nextCursor === cursor) break;
        if (page >= MAX_PAGES || listed >= MAX_LISTED_TOOLS) {
          unread = `stopped reading tools/list after page ${page} (${listed} tools); the bridge reads at most ${MAX_PAGES} pages or ${MAX_LISTED_TOOLS} tools`;
          break;
        }
        cursor = result.nextCursor;
      }
      if (duplicates.length !== this.#duplicatesLogged) {
        this.#duplicatesLogged = duplicates.length;
        if (duplicates.length)
          this.#log.warn(
            { tools: duplicates.slice(0, 10), count: duplicates.length },
            'MCP tools listed twice; keeping the first',
          );
      }
      return { tools: budget.tools, bounds: { overBytes: budget.cut, unread } };
    });
  }

  /** One page's tools that pass the filters, as injected tools; a name already seen is skipped. */
  #toInjected(page: Tool[], seen: Set<string>, duplicates: string[]): InjectedTool[] {
    const out: InjectedTool[] = [];
    for (const tool of page) {
      if (!this.#keep(tool.name)) continue;
      const name = injectedName(this.name, tool.name);
      if (seen.has(name)) {
        duplicates.push(tool.name);
        continue;
      }
      seen.add(name);
      out.push({
        name,
        server: this.name,
        serverUrl: this.shownUrl,
        rawName: tool.name,
        description: tool.description ?? '',
        inputSchema: tool.inputSchema as Record<string, unknown>,
      });
    }
    return out;
  }

  /** Logs what max_tools_bytes and the read bounds left out, once per change (not per reading). */
  #noteBounds(kept: number, bounds: ListBounds): void {
    const summary = `${bounds.overBytes.count}|${bounds.unread ?? ''}`;
    if (summary === this.#boundsLogged) return;
    this.#boundsLogged = summary;
    if (summary === NOTHING_LEFT_OUT) {
      this.#log.info({ tools: kept }, 'MCP server tools all kept again');
      return;
    }
    this.#log.warn(
      {
        tools: kept,
        over_max_tools_bytes: bounds.overBytes.count,
        max_tools_bytes: this.#maxToolsBytes,
        unread: bounds.unread,
      },
      'MCP server lists more tools than the bridge keeps; the rest are left out',
    );
  }

  #setTools({ tools, bounds }: Listing): void {
    this.#bounds = bounds;
    this.#noteBounds(tools.length, bounds);
    if (JSON.stringify(tools) === JSON.stringify(this.#tools)) return;
    this.#tools = tools;
    this.#byRaw = new Map(tools.map((t) => [t.rawName, t]));
    for (const listener of this.#listeners) listener();
  }

  /** list_changed: re-read every page; notifications during a refresh cause one more. */
  #refresh(client: Client): void {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = (async () => {
      do {
        this.#refreshAgain = false;
        const deadline = timeLimit(this.#connectTimeoutMs);
        try {
          const listing = await this.#fetchTools(client, deadline.signal);
          if (this.#client !== client) return;
          this.#setTools(listing);
          this.#log.info({ tools: listing.tools.length }, 'MCP tool list refreshed');
        } catch (err) {
          this.#log.warn({ err: this.#message(err) }, 'MCP tool list refresh failed; keeping the previous list');
        } finally {
          deadline.clear();
        }
      } while (this.#refreshAgain && this.#client === client);
    })().finally(() => {
      this.#refreshing = undefined;
    });
  }

  /** A transport error (e.g. the event stream dropped): ping to tell a blip from a dead server or lost session. */
  #onTransportError(client: Client, err: Error): void {
    if (this.#client !== client || this.#checking) return;
    this.#checking = true;
    this.#log.debug({ err: this.#message(err) }, 'MCP transport error; checking the connection');
    client
      .ping({ timeout: PING_TIMEOUT_MS })
      .then(
        () => {},
        (pingErr) => this.#recover(client, pingErr),
      )
      .finally(() => {
        this.#checking = false;
      });
  }

  /** Drops a broken client and reconnects at once; if that fails, back off in the background. */
  async #recover(client: Client, err: unknown): Promise<void> {
    if (this.#client === client) {
      this.#client = undefined;
      this.#lastError = this.#reason(err);
      this.#log.warn({ err: this.#lastError }, 'MCP server connection lost; reconnecting');
      void client.close().catch(() => {});
      try {
        await this.#connect();
      } catch (connectErr) {
        this.#failed(connectErr);
      }
    } else if (this.#connecting) {
      await this.#connecting.catch(() => {});
    }
  }

  /**
   * The last known list stays: the injected block (and the prompt cache) survives an outage,
   * and a model that calls a tool meanwhile gets a readable "unavailable" result.
   */
  #failed(err: unknown): void {
    if (this.#state === 'closed') return;
    this.#state = 'failed';
    this.#lastError = this.#reason(err);
    this.#lastHttpStatus = err instanceof StreamableHTTPError && (err.code ?? 0) > 0 ? err.code : undefined;
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#state === 'closed' || this.#retryTimer) return;
    const base = Math.min(this.#retryInitialMs * 2 ** this.#attempt, this.#retryMaxMs);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: replicas do not retry in step
    // Warn once per outage; the retries that follow are debug noise.
    this.#log[this.#attempt === 0 ? 'warn' : 'debug'](
      { err: this.#lastError, retry_in_ms: delay },
      'MCP server unavailable',
    );
    this.#attempt++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#client || this.#state === 'closed') return;
      this.#connect().catch((err) => this.#failed(err));
    }, delay);
    this.#retryTimer.unref();
  }
}

/**
 * A deadline for a connect or a list reading. Not AbortSignal.timeout: the SDK never removes the
 * listeners it adds to a request's signal, and a timeout signal keeps its listeners (and so the
 * client, the proxy and its tools) alive until it fires, even long after the proxy was closed.
 */
function timeLimit(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    ms,
  );
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** A server's HTTP refusal as its status and first line (never its whole page), else the error's own words. */
function message(err: unknown): string {
  if (err instanceof StreamableHTTPError && (err.code ?? 0) > 0) return httpErrorText(err.code as number, err.message);
  if (err instanceof Error) {
    const cause = (err.cause as { code?: string; message?: string } | undefined) ?? undefined;
    const detail = cause?.code ?? cause?.message;
    return detail && !err.message.includes(detail) ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}

const isTimeout = (err: unknown) => err instanceof McpError && err.code === ErrorCode.RequestTimeout;

const isSessionLost = (err: unknown) => err instanceof StreamableHTTPError && err.code === 404;

/** Errors that mean the connection (not the tool) is broken: refused/reset sockets, lost session, closed client. */
function isConnectionLoss(err: unknown): boolean {
  if (isSessionLost(err)) return true;
  if (err instanceof McpError) return err.code === ErrorCode.ConnectionClosed;
  if (err instanceof StreamableHTTPError) return false;
  return err instanceof TypeError || (err instanceof Error && /fetch failed|ECONN|socket|network/i.test(err.message));
}
