/**
 * An MCP server's URL may carry a secret (a key in its query string, credentials before the
 * host — many hosted MCP servers are set up that way). The URL is shown in three places: the
 * unauthenticated /readyz, every injected tool call's recorded `server_url` (which members
 * read through the audit API), and `aibridge mcp check`. None of them may show the secret.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const QUERY_SECRET = 'mcpq-0123456789-secret';
const PASSWORD = 'mcppw-0123456789-secret';
const tempDir = tempDirs('aibridge-mcp-url-');

let mcp: TestMcpServer;
let h: Harness;
let withKey: string;
let withPassword: string;
beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  withKey = `${mcp.url}?api_key=${QUERY_SECRET}&team=core`;
  withPassword = mcp.url.replace('://', `://bridge:${PASSWORD}@`);
  h = await startHarness('hostile-mcp-url', {
    mcp_servers: [
      { name: 'test', url: withKey, tool_allow_regex: '^echo$' },
      { name: 'basic', url: withPassword },
    ],
  });
});
afterAll(async () => {
  await h?.close();
  await mcp?.stop();
});

describe('an MCP server URL with a secret in it', () => {
  it('is not shown by the unauthenticated /readyz', async () => {
    const text = await (await fetch(`${h.bridge.url}/readyz`)).text();
    expect(text).toContain('"test"');
    expect(text).not.toContain(QUERY_SECRET);
    expect(text).not.toContain(PASSWORD);
    const ready = JSON.parse(text).mcp_servers as Record<string, { url: string }>;
    expect(ready.test?.url).toBe(`${mcp.url}?api_key=***&team=***`);
    expect(ready.basic?.url).toBe(mcp.url.replace('://', '://***@'));
  });

  it('is not recorded with injected tool calls, which members read', async () => {
    h.upstream.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    await h.anthropic.messages.create({
      model: 'claude-test-1',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'echo something' }],
    });
    const records = await h.records();
    expect(records.tools[0]?.server_url).toBe(`${mcp.url}?api_key=***&team=***`);
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/interceptions`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    const text = await res.text();
    expect(text).toContain('"tool":"echo"');
    expect(text).not.toContain(QUERY_SECRET);
  });

  it('is not printed by aibridge mcp check', async () => {
    const file = join(tempDir(), 'aibridge.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        mcp_servers: [
          { name: 'test', url: withKey },
          { name: 'basic', url: withPassword },
        ],
      }),
    );
    for (const args of [[], ['-o', 'json']]) {
      const result = await runCli(['mcp', 'check', '--config', file, ...args]);
      expect(result.stdout).toContain('api_key=***');
      expect(result.stdout + result.stderr).not.toContain(QUERY_SECRET);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    }
  });
});
