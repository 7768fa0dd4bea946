import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge } from '../helpers/bridge.ts';
import { testEmbeddedStore } from '../helpers/db.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-mcp-check-');
let live: TestMcpServer;
let deadUrl: string;
/** Answers 401 to everything, like a server that wants a user's token. */
let refusing: Server;
let refusingUrl: string;
/** Not an MCP server: Express's 404 page to every request (a URL that names an old SSE endpoint). */
let html: Server;
let htmlUrl: string;
const EXPRESS_404 = (method: string, path: string) =>
  `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot ${method} ${path}</pre>\n</body>\n</html>\n${'<!-- padding -->\n'.repeat(500)}`;

beforeAll(async () => {
  live = await startTestMcpServer({ extraTools: 60, pageSize: 25 }); // tools/list takes three pages
  const dead = await startTestMcpServer({ extraTools: 0 });
  deadUrl = dead.url;
  await dead.stop();
  refusing = createServer((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{}'));
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/mcp`;
  html = createServer((req, res) =>
    res
      .writeHead(404, { 'content-type': 'text/html; charset=utf-8' })
      .end(EXPRESS_404(req.method ?? 'GET', req.url ?? '/')),
  );
  await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
  htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}/sse`;
});
afterAll(async () => {
  await live.stop();
  await new Promise((resolve) => refusing.close(resolve));
  await new Promise((resolve) => html.close(resolve));
});

const LIVE = {
  name: 'live',
  url: '',
  headers: { Authorization: `Bearer \${MCP_CHECK_TOKEN}` },
  tool_allow_regex: '^(echo|slow|extra_05)',
  tool_deny_regex: 'extra_050',
  allowed_roles: ['owner'],
};

function configFile(servers: object[]): string {
  const file = join(tempDir(), 'aibridge.yaml');
  writeFileSync(file, JSON.stringify({ mcp_servers: servers }));
  return file;
}

const check = (file: string, ...args: string[]) =>
  runCli(['mcp', 'check', '--config', file, ...args], { MCP_CHECK_TOKEN: 'check-secret' });

describe('aibridge mcp check', () => {
  it('prints a live and a dead server as the bridge sees them and exits 1 naming the dead one', async () => {
    const file = configFile([
      { ...LIVE, url: live.url },
      { name: 'gone', url: deadUrl },
    ]);
    const result = await check(file);
    expect(result.code).toBe(1);
    const [header, liveRow, goneRow] = result.stdout.split('\n');
    expect(header).toMatch(/^NAME\s+URL\s+STATE\s+TOOLS\s+LEFT_OUT\s+ROLES\s+REASON$/);
    expect(liveRow).toMatch(new RegExp(`^live\\s+${live.url}\\s+ready\\s+11\\s+0\\s+owner\\s+-$`));
    expect(goneRow).toMatch(
      new RegExp(`^gone\\s+${deadUrl}\\s+failed\\s+0\\s+0\\s+owner,auditor,member\\s+.*ECONNREFUSED`),
    );
    // Every page listed, the regexes applied, the names injected as the bridge names them.
    expect(result.stdout).toContain('\nlive:\n  bmcp_live_echo\n  bmcp_live_extra_051\n');
    expect(result.stdout).not.toContain('bmcp_live_extra_050');
    expect(result.stdout).toContain('\ngone:\n  no tools: failed\n');
    expect(result.stderr).toMatch(/^aibridge: 1 MCP server failed: gone \(.*ECONNREFUSED.*\)\n$/);
    expect(live.authorizations).toContain('Bearer check-secret'); // headers with ${VAR}, as configured
  });

  it('exits 0 when every server is up; -o json parses; --role shows what that role is given', async () => {
    const file = configFile([
      { ...LIVE, url: live.url },
      { name: 'open', url: live.url, tool_allow_regex: '^echo$' },
    ]);
    const result = await check(file, '-o', 'json', '--role', 'member');
    expect(result.code).toBe(0);
    const checks = JSON.parse(result.stdout);
    expect(checks).toEqual([
      expect.objectContaining({
        name: 'live',
        state: 'ready',
        tools: 11,
        roles: ['owner'],
        allowed: false,
        injected: [],
      }),
      {
        name: 'open',
        url: live.url,
        state: 'ready',
        reason: null,
        tools: 1,
        roles: ['owner', 'auditor', 'member'],
        allowed: true,
        injected: ['bmcp_open_echo'],
        per_user_credentials: false,
        note: null,
      },
    ]);
    const table = await check(file, '--role', 'member');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('\nlive:\n  not given to role member\n');
  });

  it("says a per-user server needs each user's headers instead of failing", async () => {
    const file = configFile([{ name: 'personal', url: refusingUrl, per_user_credentials: true }]);
    const result = await check(file, '-o', 'json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      expect.objectContaining({
        state: 'needs_credentials',
        reason: '401 Unauthorized',
        per_user_credentials: true,
        note: expect.stringContaining("each user's own headers"),
      }),
    ]);
  });

  it("shows a server's error page as its status and first line, never the page", async () => {
    const file = configFile([{ name: 'old', url: htmlUrl }]);
    const result = await check(file);
    expect(result.code).toBe(1);
    const row = result.stdout.split('\n')[1];
    expect(row).toMatch(/^old\s+\S+\s+failed\s+0\s+0\s+owner,auditor,member\s+404 Not Found: Cannot POST \/sse$/);
    expect(result.stderr).toBe('aibridge: 1 MCP server failed: old (404 Not Found: Cannot POST /sse)\n');
    expect(result.stdout + result.stderr).not.toMatch(/<|DOCTYPE|padding/);
  });

  it('/readyz shows the same short reason', async () => {
    const store = testEmbeddedStore();
    const bridge = await startTestBridge(store, { mcp_servers: [{ name: 'old', url: htmlUrl }] });
    try {
      const readyz = async () => (await (await fetch(`${bridge.url}/readyz`)).json()) as any;
      await waitUntil(async () => (await readyz()).mcp_servers?.old?.last_error !== null);
      const body = await readyz();
      expect(body.mcp_servers.old).toMatchObject({ state: 'failed', last_error: '404 Not Found: Cannot POST /sse' });
      expect(JSON.stringify(body)).not.toMatch(/DOCTYPE|padding/);
    } finally {
      await bridge.close();
      await store.close();
    }
  });
});
