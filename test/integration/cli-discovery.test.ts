import { statSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/**
 * README "Finding the configuration": a bridge started with --config FILE (as `npm start` does)
 * leaves data_dir/server.json, and every command run in the same directory finds what it runs with.
 */

const tempDir = tempDirs('aibridge-discovery-');
// Nothing from the environment the tests run in may point the CLI at a config, a store or a bridge.
const CLEAN = {
  AIBRIDGE_CONFIG: undefined,
  AIBRIDGE_MONGODB_URI: undefined,
  AIBRIDGE_URL: undefined,
  AIBRIDGE_SESSION_TOKEN: undefined,
};

let upstream: ReplayUpstream;
let mcp: TestMcpServer;
let server: ChildServer;
/** Where the bridge runs (its data_dir is ./.data here); its config file lives elsewhere. */
let here: string;

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.setDefault('anthropic-messages/text.json');
  mcp = await startTestMcpServer({ extraTools: 0 });
  here = tempDir();
  server = await startChildServer(
    tempDir(),
    {
      data_dir: join(here, '.data'),
      providers: [{ name: 'claude', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream' }],
      mcp_servers: [{ name: 'docs', url: mcp.url, tool_allow_regex: '^echo$' }],
    },
    {},
    here,
  );
  const client = new Anthropic({ baseURL: `${server.url}/claude`, apiKey: server.token, maxRetries: 0 });
  await client.messages.create({ model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
});
afterAll(async () => {
  await server?.stop();
  await mcp?.stop();
  await upstream?.close();
});

const cli = (args: string[], cwd = here) => runCli(args, CLEAN, 60_000, cwd);
const ok = async (args: string[]) => {
  const result = await cli(args);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
};

describe('a bridge running here', () => {
  it('leaves data_dir/server.json: its config file (absolute), URL and pid, readable only by its user', async () => {
    const file = join(here, '.data', 'server.json');
    const record = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8'));
    expect(record).toEqual({
      config: server.configFile,
      url: server.url,
      pid: server.pid,
      started_at: expect.any(String),
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is found by mcp check, users and tokens without --config', async () => {
    const checked = await ok(['mcp', 'check']);
    expect(checked).toMatch(/^docs\s+\S+\s+ready\s+1\s/m);
    const users = JSON.parse(await ok(['users', 'list', '-o', 'json'])) as Array<{ username: string }>;
    expect(users.map((u) => u.username)).toEqual(['admin']);
    expect(await ok(['tokens', 'list', 'admin'])).toMatch(/\sadmin\s/);
  });

  it('lets usage and interceptions list read the store without a token, as the API shows it', async () => {
    const asApi = async (path: string) =>
      (
        await fetch(`${server.url}/api/v2/aibridge${path}`, { headers: { authorization: `Bearer ${server.token}` } })
      ).json();
    await waitUntil(async () => (await asApi('/interceptions')).count === 1, 30_000);

    const listed = JSON.parse(await ok(['interceptions', 'list']));
    expect(listed).toEqual((await asApi('/interceptions')).results);
    expect(listed[0]).toMatchObject({ initiator: { username: 'admin' }, provider_name: 'claude', status: 'completed' });

    const usage = JSON.parse(await ok(['usage', '--group-by', 'initiator,model', '-o', 'json']));
    expect(usage).toEqual(await asApi('/usage?group_by=initiator,model'));
    expect(usage.groups[0]).toMatchObject({ key: { model: 'claude-test-1' }, interceptions: 1 });
    expect(await ok(['usage'])).toMatch(/^INTERCEPTIONS\s+TOTAL_INPUT_TOKENS/);

    // With a token and no URL, the bridge running here is the one asked (it listens on a port of its own).
    const viaApi = await runCli(['interceptions', 'list', '--token', server.token], { ...CLEAN }, 60_000, here);
    expect(viaApi.code, viaApi.stderr).toBe(0);
    expect(JSON.parse(viaApi.stdout)).toEqual(listed);
    // Names a user as the API does; "me" needs a caller.
    expect(JSON.parse(await ok(['interceptions', 'list', '--initiator', 'admin']))).toHaveLength(1);
    const me = await cli(['interceptions', 'list', '--initiator', 'me']);
    expect(me.code).toBe(2);
    expect(me.stderr).toMatch(/"me" names the caller of a bridge: pass --token/);
  });

  it('elsewhere, with no token and no store to read, usage and interceptions list stop with exit 2 saying so', async () => {
    const empty = tempDir();
    for (const args of [['usage'], ['interceptions', 'list']]) {
      const result = await cli(args, empty);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^aibridge: no session token, and no store here to read: pass --token/);
    }
  });
});
