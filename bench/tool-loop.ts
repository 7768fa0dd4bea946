// One tool-loop iteration through the bridge (upstream → MCP echo → upstream), and the bridge's own
// share of it: the total minus two direct upstream calls and one direct MCP call.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { latencies, percentile } from './load.ts';

const sorted = (times: number[]) => [...times].sort((a, b) => a - b);

export async function toolLoop(
  bridge: { url: string; token: string },
  upstreamUrl: string,
  mcpUrl: string,
  count: number,
) {
  const body = JSON.stringify({
    model: 'claude-bench',
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Echo' }],
  });
  const headers = { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json' };
  const loop = sorted(
    await latencies({ name: 'bridge', origin: bridge.url, path: '/anthropic/v1/messages', headers, body }, count),
  );
  const upstream = sorted(
    await latencies(
      {
        name: 'upstream',
        origin: upstreamUrl,
        path: '/v1/messages',
        headers: { 'content-type': 'application/json' },
        body,
      },
      count,
    ),
  );
  const mcp = new Client({ name: 'bench', version: '1' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)));
  const calls: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    await mcp.callTool({ name: 'echo', arguments: { text: 'hello from the model' } });
    calls.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await mcp.close();
  const tool = sorted(calls);
  return {
    bridge_p50_ms: percentile(loop, 50),
    bridge_p99_ms: percentile(loop, 99),
    upstream_p50_ms: percentile(upstream, 50),
    mcp_p50_ms: percentile(tool, 50),
    bridge_overhead_p50_ms: percentile(loop, 50) - 2 * percentile(upstream, 50) - percentile(tool, 50),
  };
}
