import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clientSessionId } from '../clients.ts';
import { tokenFrom } from '../identity/authenticator.ts';
import { BRIDGE_SERVER } from '../mcp/tool-names.ts';
import { packageVersion } from '../paths.ts';
import type { Annotator, WorkCaller } from '../work-context/annotate.ts';
import {
  ANNOTATE_WORK,
  ANNOTATE_WORK_DESCRIPTION,
  ANNOTATE_WORK_SCHEMA,
  BRIDGE_MCP_PATH,
} from '../work-context/tool.ts';
import type { AppContext } from './context.ts';

/** A JSON-RPC message to /mcp is small: a call's arguments are bounded (work-context/tool.ts LIMITS). */
export const MCP_BODY_BYTES = 256 * 1024;

/** A JSON-RPC error as the whole answer, for what is refused before the MCP server sees it. */
function rpcError(reply: FastifyReply, status: number, code: number, message: string, headers = {}) {
  return reply
    .code(status)
    .headers({ 'cache-control': 'no-store', ...headers })
    .send({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/** The bridge token, checked before the body is read (as on every route). */
function authenticate(ctx: AppContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (Number(request.headers['content-length']) > MCP_BODY_BYTES) {
      return rpcError(
        reply,
        413,
        ErrorCode.InvalidRequest,
        `a request to ${BRIDGE_MCP_PATH} is at most ${MCP_BODY_BYTES} bytes`,
      );
    }
    const token = tokenFrom(request.headers);
    const challenge = { 'www-authenticate': 'Bearer realm="aibridge"' };
    if (!token) {
      return rpcError(
        reply,
        401,
        -32001,
        'missing credentials: send your AI Bridge token as a Bearer token',
        challenge,
      );
    }
    let principal: Awaited<ReturnType<AppContext['authenticator']['authenticate']>>;
    try {
      principal = await ctx.authenticator.authenticate(token);
    } catch {
      return rpcError(reply, 503, ErrorCode.InternalError, 'authentication is temporarily unavailable', {
        'retry-after': '5',
      });
    }
    if (!principal) return rpcError(reply, 401, -32001, 'invalid or expired AI Bridge token', challenge);
    request.principal = principal;
  };
}

/** One MCP server for one request (stateless: any replica answers any request), with the caller's identity. */
function serverFor(annotator: Annotator, caller: WorkCaller): Server {
  const server = new Server({ name: BRIDGE_SERVER, version: packageVersion() }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: ANNOTATE_WORK, description: ANNOTATE_WORK_DESCRIPTION, inputSchema: ANNOTATE_WORK_SCHEMA }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (call) => {
    if (call.params.name !== ANNOTATE_WORK) {
      return { content: [{ type: 'text', text: `unknown tool "${call.params.name}"` }], isError: true };
    }
    // Claude Code names the model's tool call it carries out: the annotation goes to its interception.
    const toolUseId = call.params._meta?.['claudecode/toolUseId'];
    const done = await annotator.annotate(
      { ...caller, toolCallId: typeof toolUseId === 'string' ? toolUseId : null },
      call.params.arguments ?? {},
    );
    return { content: [{ type: 'text', text: done.text }], isError: !done.ok };
  });
  return server;
}

/**
 * The bridge's own MCP server at /mcp (README "Work context"): streamable HTTP, stateless, JSON
 * answers, the bridge token as on the API. Its one tool, annotate_work, attaches work context to
 * the caller's session: the session id its client sends, or its latest interception's.
 */
export function mcpRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.route({
    method: ['GET', 'DELETE'],
    url: BRIDGE_MCP_PATH,
    onRequest: authenticate(ctx),
    // Stateless: no stream of server messages to open, no session to end.
    handler: (_request, reply) =>
      rpcError(reply, 405, ErrorCode.InvalidRequest, 'this MCP server takes POST only', { allow: 'POST' }),
  });
  app.post(
    BRIDGE_MCP_PATH,
    { onRequest: authenticate(ctx), config: { bodyBytes: MCP_BODY_BYTES } },
    async (request, reply) => {
      const raw = request.body;
      if (!Buffer.isBuffer(raw) || raw.length > MCP_BODY_BYTES) {
        return rpcError(reply, 400, ErrorCode.InvalidRequest, 'send one JSON-RPC message as application/json');
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return rpcError(reply, 400, ErrorCode.ParseError, 'the body is not valid JSON');
      }
      const principal = request.principal;
      if (!principal) return rpcError(reply, 401, -32001, 'not authenticated');
      const caller: WorkCaller = {
        userId: principal.user._id,
        sessionId: clientSessionId(request.headers, {}),
        interceptionId: null,
      };
      const server = serverFor(ctx.work.annotator, caller);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close().catch(() => {});
        void server.close().catch(() => {});
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(request.raw, reply.raw, body);
      } catch (err) {
        request.log.warn({ err: (err as Error).message }, 'mcp: request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json' });
          reply.raw.end(
            JSON.stringify({
              jsonrpc: '2.0',
              error: { code: ErrorCode.InternalError, message: 'internal error' },
              id: null,
            }),
          );
        } else reply.raw.end();
      }
    },
  );
}
