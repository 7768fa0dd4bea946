import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-mcp-check-');
let live: TestMcpServer;
let deadUrl: string;
/** Answers 401 to everything, like a server that wants a user's token. */
let refusing: Server;
let refusingUrl: string;

beforeAll(async () => {
  live = await startTestMcpServer({ extraTools: 60, pageSize: 25 }); // tools/list takes three pages
  const dead = await startTestMcpServer({ extraTools: 0 });
  deadUrl = dead.url;
  await dead.stop();
  refusing = createServer((_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{}'));
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/mcp`;
});
afterAll(async () => {
  await live.stop();
  await new Promise((resolve) => refusing.close(resolve));
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
        reason: expect.stringContaining('HTTP 401'),
        per_user_credentials: true,
        note: expect.stringContaining("each user's own headers"),
      }),
    ]);
  });
});
