import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveCredential } from '../../src/cli/credentials.ts';
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
// Nothing from the environment the tests run in may point the CLI at a config, a store, a bridge or a saved login.
const CLEAN = {
  AIBRIDGE_CONFIG: undefined,
  AIBRIDGE_MONGODB_URI: undefined,
  AIBRIDGE_URL: undefined,
  AIBRIDGE_SESSION_TOKEN: undefined,
  XDG_CONFIG_HOME: tempDir(),
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

  it('takes --team, --tool, --repo and usage by team on the store as the API takes them', async () => {
    const asApi = async (path: string) =>
      (
        await fetch(`${server.url}/api/v2/aibridge${path}`, { headers: { authorization: `Bearer ${server.token}` } })
      ).json();
    await ok(['teams', 'create', 'red']);
    await ok(['teams', 'add', 'red', 'admin']);
    for (const [flag, value] of [
      ['team', 'red'],
      ['tool', 'echo'],
      ['repo', 'github.com/acme/app'],
    ] as const) {
      const local = JSON.parse(await ok(['interceptions', 'list', `--${flag}`, value]));
      expect(local, flag).toEqual((await asApi(`/interceptions?q=${encodeURIComponent(`${flag}:${value}`)}`)).results);
    }
    expect(JSON.parse(await ok(['interceptions', 'list', '--team', 'red']))).toHaveLength(1);
    const byTeam = JSON.parse(await ok(['usage', '--group-by', 'team', '-o', 'json']));
    expect(byTeam).toEqual(await asApi('/usage?group_by=team'));
    expect(byTeam.groups).toEqual([
      expect.objectContaining({ key: { team: { id: expect.any(String), name: 'red' } }, interceptions: 1 }),
    ]);
    expect(await ok(['usage', '--group-by', 'team'])).toMatch(/^TEAM\s+INTERCEPTIONS[^\n]*\nred\s+1\s/);
    const unknown = await cli(['interceptions', 'list', '--team', 'blue']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no team "blue"/);
  });

  it('asks the bridge running here with the token aibridge login saved, unless a configuration is named', async () => {
    const bob = (await ok(['users', 'create', 'bob'])).trim();
    const home = tempDir();
    saveCredential(
      server.url,
      {
        token: bob,
        token_id: 'first',
        name: 'first token',
        username: 'bob',
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        saved_at: new Date().toISOString(),
      },
      { XDG_CONFIG_HOME: home },
    );
    const env = { ...CLEAN, XDG_CONFIG_HOME: home };
    // Bob's own view through the API: he made no requests.
    const asBob = await runCli(['interceptions', 'list'], env, 60_000, here);
    expect(asBob.code, asBob.stderr).toBe(0);
    expect(JSON.parse(asBob.stdout)).toEqual([]);
    // A configuration named on the command line means its store: everyone's.
    const named = await runCli(['interceptions', 'list', '--config', server.configFile], env, 60_000, here);
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout)).toHaveLength(1);
  });

  it('lets aibridge login and proxy ca find the bridge running here', async () => {
    // No --url: the running bridge is asked (it has no single sign-on), not the default port.
    const login = await cli(['login', '--device']);
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(/^aibridge: the bridge answered 404: single sign-on is not configured on this bridge/);
    const ca = await cli(['proxy', 'ca']);
    expect(ca.code, ca.stderr).toBe(0);
    expect(ca.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(existsSync(join(here, '.data', 'proxy'))).toBe(true);
  });

  it('sends a token only to a bridge on this machine, whatever a server.json planted in the directory says', async () => {
    const planted = tempDir();
    mkdirSync(join(planted, '.data'));
    // A running pid (this one) and a URL elsewhere: as a cloned repository could carry.
    const record = { config: join(planted, 'aibridge.yaml'), url: 'http://198.51.100.7:4000', pid: process.pid };
    writeFileSync(join(planted, '.data', 'server.json'), JSON.stringify(record));
    const result = await runCli(
      ['interceptions', 'list'],
      { ...CLEAN, AIBRIDGE_SESSION_TOKEN: 'aib_planted' },
      60_000,
      planted,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).not.toContain('198.51.100.7');
    expect(result.stderr).toContain('127.0.0.1:4000');
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
