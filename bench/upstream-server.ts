// Benchmark upstream: the test replayer answering by route, plus a real MCP server for the tool loop.
// node bench/upstream-server.ts [PORT]
import { startTestMcpServer } from '../test/helpers/mcp-server.ts';
import { ReplayUpstream, type UpstreamRequest } from '../test/helpers/upstream.ts';

function choose(request: UpstreamRequest): string {
  const body = request.json ?? {};
  const ext = body.stream ? 'sse' : 'json';
  if (request.headers['x-bench-hang']) return 'anthropic-messages/hang.sse';
  if (request.path.endsWith('/chat/completions')) return `openai-chat/text.${ext}`;
  if (request.path.endsWith('/responses')) return `openai-responses/text.${ext}`;
  // Tools are injected into every request; like a model, this upstream only calls one when asked to.
  const messages: Array<{ content?: unknown }> = body.messages ?? [];
  const last = JSON.stringify(messages.at(-1)?.content ?? '');
  if (last.includes('tool_result')) return `anthropic-messages/after-tool.${ext}`;
  if (last === '"Echo"' && (body.tools ?? []).some((t: { name?: string }) => t.name?.startsWith('bmcp_'))) {
    return `anthropic-messages/injected-tool.${ext}`;
  }
  return `anthropic-messages/text.${ext}`;
}

const upstream = await ReplayUpstream.start(Number(process.argv[2] ?? 0));
upstream.keepRequests = false;
upstream.setDefault(choose);
const mcp = await startTestMcpServer({ extraTools: 0 });
process.stdout.write(`${JSON.stringify({ upstream: upstream.url, mcp: mcp.url })}\n`);
process.on('SIGTERM', () => process.exit(0));
