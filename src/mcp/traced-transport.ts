import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { trace } from '@opentelemetry/api';
import { tracing } from '../observability/tracing.ts';

type SendOptions = Parameters<StreamableHTTPClientTransport['send']>[1];

/**
 * The SDK's streamable HTTP transport, telling the active span (the interception's
 * `Intercept.ProcessRequest.ToolCall`) what only the transport knows of a `tools/call`: the MCP
 * session it goes on and its JSON-RPC id — the MCP semantic conventions' `mcp.session.id`,
 * `jsonrpc.request.id` and `mcp.protocol.version`. One flag check while tracing is off.
 */
export class TracedTransport extends StreamableHTTPClientTransport {
  override send(message: JSONRPCMessage | JSONRPCMessage[], options?: SendOptions): Promise<void> {
    if (tracing.tracer && !Array.isArray(message) && 'method' in message && message.method === 'tools/call') {
      const span = trace.getActiveSpan();
      if (span && 'id' in message && message.id !== null && message.id !== undefined) {
        span.setAttribute('jsonrpc.request.id', String(message.id));
        if (this.sessionId) span.setAttribute('mcp.session.id', this.sessionId);
        if (this.protocolVersion) span.setAttribute('mcp.protocol.version', this.protocolVersion);
      }
    }
    return super.send(message, options);
  }
}
