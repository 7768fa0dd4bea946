import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  isInitializeRequest,
  ListToolsRequestSchema,
  McpError,
  type ServerNotification,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

/** A 1×1 transparent PNG. */
export const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

export interface TestMcpServerOptions {
  /** Port to listen on; 0 (default) picks a free one, kept across stop()/start(). */
  port?: number;
  /** tools/list page size (default 50). */
  pageSize?: number;
  /** How many extra_NNN tools to add, so the list needs several pages (default 120). */
  extraTools?: number;
  /** Extra tools with given names (e.g. very long ones), answering with their own name. */
  namedTools?: string[];
  /** Tools (new, or replacing a built-in one) that answer with this fixed text, whatever they are asked. */
  answers?: Record<string, string>;
  /** Tools that answer with this many bytes of text, streamed (no Content-Length). */
  streamedAnswers?: Record<string, number>;
  /** Answers tools/list instead of the tools above (which stay callable): a listing made page by page on demand. */
  listing?: (cursor: string | undefined) => { tools: Tool[]; nextCursor?: string };
}

export interface TestMcpServer {
  /** http://127.0.0.1:PORT/mcp */
  readonly url: string;
  readonly port: number;
  /** tools/call count per tool name. */
  readonly calls: Map<string, number>;
  /** Tool calls running right now, and the most seen at once since start (or resetPeak). */
  readonly concurrency: { now: number; peak: number };
  resetPeak(): void;
  /** Authorization header of every HTTP request received ('' when absent). */
  readonly authorizations: string[];
  /** Lower-cased headers of every HTTP request received. */
  readonly requests: Array<Record<string, string>>;
  /** Live MCP sessions. */
  readonly sessions: number;
  toolNames(): string[];
  /** Until the returned function is called, `slow` calls wait after their sleep: a test can act while one surely runs. */
  hold(): () => void;
  /** Adds a tool answering "<name> ok" and notifies every session (notifications/tools/list_changed). */
  addTool(name: string, description?: string): Promise<void>;
  removeTool(name: string): Promise<void>;
  /** Forgets every session while connections stay up, as a server that expired them: the next request gets 404. */
  forgetSessions(): void;
  /** Closes every connection and session, like a crash; start() listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

type Handler = (
  args: Record<string, unknown>,
  headers: Record<string, string>,
  signal: AbortSignal,
  notify: (notification: ServerNotification) => Promise<void>,
) => Promise<CallToolResult>;

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });

function builtinTools(gate: () => Promise<void> | undefined): Map<string, { tool: Tool; handler: Handler }> {
  const tools = new Map<string, { tool: Tool; handler: Handler }>();
  const add = (name: string, description: string, properties: Record<string, object>, handler: Handler) =>
    tools.set(name, { tool: { name, description, inputSchema: { type: 'object', properties } }, handler });

  add('echo', 'Returns the text it is given.', { text: { type: 'string' } }, async (args) => {
    const t = String(args.text ?? '');
    return { content: [{ type: 'text', text: t }], structuredContent: { echoed: t, length: t.length } };
  });
  add('fail', 'Always reports an error.', {}, async () => ({
    content: [{ type: 'text', text: 'this tool always fails' }],
    isError: true,
  }));
  add('slow', 'Waits ms milliseconds, then answers.', { ms: { type: 'number' } }, async (args, _h, signal) => {
    const ms = Number(args.ms ?? 100);
    await sleep(ms, undefined, { signal }).catch(() => {});
    await gate();
    return text(`slept ${ms} ms`);
  });
  add('image', 'Returns a tiny PNG.', {}, async () => ({
    content: [
      { type: 'text', text: 'a 1x1 image' },
      { type: 'image', data: TINY_PNG, mimeType: 'image/png' },
    ],
  }));
  add('whoami', 'Returns the Authorization header the server saw.', {}, async (_args, headers) =>
    text(headers.authorization ?? '(none)'),
  );
  return tools;
}

/**
 * A real MCP server (SDK low-level Server + streamable HTTP transport, stateful sessions)
 * on 127.0.0.1, with tools to exercise paging, errors, timeouts, images and list changes.
 */
export async function startTestMcpServer(options: TestMcpServerOptions = {}): Promise<TestMcpServer> {
  const pageSize = options.pageSize ?? 50;
  let held: Promise<void> | undefined;
  const tools = builtinTools(() => held);
  const extra = (name: string) => ({
    tool: { name, description: `Extra tool ${name}.`, inputSchema: { type: 'object' as const, properties: {} } },
    handler: async () => text(`${name} ok`),
  });
  for (let i = 0; i < (options.extraTools ?? 120); i++) {
    const name = `extra_${String(i).padStart(3, '0')}`;
    tools.set(name, extra(name));
  }
  for (const name of options.namedTools ?? []) tools.set(name, extra(name));
  for (const [name, bytes] of Object.entries(options.streamedAnswers ?? {})) {
    tools.set(name, {
      tool: { name, description: `Streams ${bytes} bytes.`, inputSchema: { type: 'object', properties: {} } },
      // A notification first flushes the response's headers: the answer then streams, unsized.
      handler: async (_args, _headers, _signal, notify) => {
        await notify({ method: 'notifications/message', params: { level: 'info', data: 'answering' } });
        return text('x'.repeat(bytes));
      },
    });
  }
  for (const [name, answer] of Object.entries(options.answers ?? {})) {
    const old = tools.get(name)?.tool;
    tools.set(name, {
      tool: old ?? { name, description: `Answers ${name}.`, inputSchema: { type: 'object', properties: {} } },
      handler: async () => text(answer),
    });
  }
  const concurrency = { now: 0, peak: 0 };

  const calls = new Map<string, number>();
  const authorizations: string[] = [];
  const requests: Array<Record<string, string>> = [];
  const sessions = new Map<string, { server: Server; transport: StreamableHTTPServerTransport }>();

  const sortedTools = () => [...tools.values()].map((t) => t.tool).sort((a, b) => (a.name < b.name ? -1 : 1));

  function newSession(): StreamableHTTPServerTransport {
    const server = new Server(
      { name: 'aibridge-test', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true }, logging: {} } },
    );
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      if (options.listing) return options.listing(request.params?.cursor);
      const all = sortedTools();
      const start = request.params?.cursor ? Number(request.params.cursor) : 0;
      if (!Number.isInteger(start) || start < 0 || start > all.length) {
        throw new McpError(ErrorCode.InvalidParams, 'bad cursor');
      }
      const end = start + pageSize;
      return { tools: all.slice(start, end), ...(end < all.length ? { nextCursor: String(end) } : {}) };
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const name = request.params.name;
      calls.set(name, (calls.get(name) ?? 0) + 1);
      const entry = tools.get(name);
      if (!entry) throw new McpError(ErrorCode.InvalidParams, `no tool named ${name}`);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(extra.requestInfo?.headers ?? {})) {
        if (typeof v === 'string') headers[k.toLowerCase()] = v;
      }
      concurrency.peak = Math.max(concurrency.peak, ++concurrency.now);
      try {
        return await entry.handler(request.params.arguments ?? {}, headers, extra.signal, extra.sendNotification);
      } finally {
        concurrency.now--;
      }
    });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { server, transport });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    void server.connect(transport);
    return transport;
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    return body ? JSON.parse(body) : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') seen[k] = v;
    requests.push(seen);
    authorizations.push(seen.authorization ?? '');
    if (!req.url?.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    // What the call was, beside its headers: tracing tests match spans to JSON-RPC requests.
    const rpc = body as { method?: unknown; id?: unknown } | undefined;
    if (typeof rpc?.method === 'string') seen['rpc.method'] = rpc.method;
    if (rpc?.id !== undefined && rpc.id !== null) seen['rpc.id'] = String(rpc.id);
    const sessionId = seen['mcp-session-id'];
    let transport = sessionId ? sessions.get(sessionId)?.transport : undefined;
    if (!transport) {
      if (sessionId || req.method !== 'POST' || !isInitializeRequest(body)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      transport = newSession();
    }
    await transport.handleRequest(req, res, body);
  }

  let http: HttpServer | undefined;
  let port = options.port ?? 0;

  async function start(): Promise<void> {
    if (http) return;
    const server = createServer((req, res) => {
      handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as AddressInfo).port;
    http = server;
  }

  async function stop(): Promise<void> {
    const server = http;
    if (!server) return;
    http = undefined;
    const open = [...sessions.values()];
    sessions.clear();
    await Promise.all(open.map((s) => s.transport.close().catch(() => {})));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async function notifyAll(): Promise<void> {
    await Promise.all([...sessions.values()].map((s) => s.server.sendToolListChanged().catch(() => {})));
  }

  await start();
  return {
    get url() {
      return `http://127.0.0.1:${port}/mcp`;
    },
    get port() {
      return port;
    },
    calls,
    concurrency,
    resetPeak: () => {
      concurrency.peak = concurrency.now;
    },
    authorizations,
    requests,
    get sessions() {
      return sessions.size;
    },
    toolNames: () => sortedTools().map((t) => t.name),
    async addTool(name, description = `Added tool ${name}.`) {
      tools.set(name, {
        tool: { name, description, inputSchema: { type: 'object', properties: {} } },
        handler: async () => text(`${name} ok`),
      });
      await notifyAll();
    },
    async removeTool(name) {
      tools.delete(name);
      await notifyAll();
    },
    hold() {
      let release = () => {};
      held = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        held = undefined;
        release();
      };
    },
    forgetSessions: () => sessions.clear(),
    stop,
    start,
  };
}
