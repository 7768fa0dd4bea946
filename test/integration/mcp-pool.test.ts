import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { McpServerConfig } from '../../src/config/config.ts';
import { Users } from '../../src/identity/users.ts';
import { CachedBridgePool, type PoolOptions } from '../../src/mcp/cached-bridge-pool.ts';
import {
  CREDENTIALS_KEY_ENV,
  CredentialsKeyError,
  credentialsKeyFromEnv,
  McpCredentials,
  parseHeader,
} from '../../src/mcp/credentials.ts';
import { ServerProxyManager } from '../../src/mcp/server-proxy-manager.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startTracing } from '../../src/observability/tracing.ts';
import { LogCapture, startTestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { runCli } from '../helpers/process.ts';

const logs = new LogCapture();
const logger = createLogger({ level: 'debug', destination: logs });
const KEY = randomBytes(32);
const FAST = { connectTimeoutMs: 2_000, retryInitialMs: 50, retryMaxMs: 200 };

const cfg = (name: string, url: string, extra: Partial<McpServerConfig> = {}): McpServerConfig => ({
  name,
  url,
  headers: {},
  per_user_credentials: false,
  call_timeout: '5s',
  ...extra,
});

let store: TestStore;
let users: Users;
let credentials: McpCredentials;
let shared: TestMcpServer;
let personal: TestMcpServer;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  store = testEmbeddedStore();
  users = new Users(store);
  credentials = new McpCredentials(store.credentials, KEY);
  shared = await startTestMcpServer({ extraTools: 2 });
  personal = await startTestMcpServer({ extraTools: 0 });
});
afterAll(async () => {
  await shared.stop();
  await personal.stop();
  await store.close();
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function user(name: string, token?: string): Promise<string> {
  const u = (await users.byUsername(name)) ?? (await users.create(name));
  if (token) await credentials.set(u._id, 'personal', { Authorization: `Bearer ${token}` });
  return u._id;
}

/** The pool hands out tools per user and role; these tests are about connections, so everyone is a member. */
const member = (id: string) => ({ _id: id, role: 'member' as const });

async function poolWith(options: PoolOptions = {}, servers?: McpServerConfig[]) {
  const manager = new ServerProxyManager(
    servers ?? [
      cfg('shared', shared.url, { headers: { Authorization: 'Bearer shared-static' } }),
      cfg('personal', personal.url, { per_user_credentials: true, headers: { 'X-Team': 'core' } }),
    ],
    logger,
    FAST,
  );
  await manager.init();
  const pool = new CachedBridgePool(manager, credentials, logger, options);
  cleanup.push(async () => {
    await pool.close();
    await manager.close();
  });
  return { manager, pool };
}

const text = (r: { content: Array<{ type: string; text?: string }> }) => r.content.map((c) => c.text).join('\n');

describe('CachedBridgePool', () => {
  it('each user reaches a per-user server with their own headers, over the shared tools', async () => {
    const ann = await user('ann', 'ann-token-1');
    const bob = await user('bob', 'bob-token-2');
    const { pool, manager } = await poolWith();
    const [annBridge, bobBridge] = await Promise.all([pool.acquire(member(ann)), pool.acquire(member(bob))]);

    expect(text(await annBridge.call('bmcp_personal_whoami', {}))).toBe('Bearer ann-token-1');
    expect(text(await bobBridge.call('bmcp_personal_whoami', {}))).toBe('Bearer bob-token-2');
    expect(text(await annBridge.call('bmcp_shared_whoami', {}))).toBe('Bearer shared-static');
    // Static headers of the per-user server are sent too; the user's own win on a clash.
    expect(
      personal.requests.filter((h) => h.authorization === 'Bearer ann-token-1').every((h) => h['x-team'] === 'core'),
    ).toBe(true);

    const names = annBridge.tools.map((t) => t.name);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('bmcp_shared_echo');
    expect(names).toContain('bmcp_personal_echo');
    expect(manager.status().personal).toMatchObject({ state: 'ready', per_user: true, users: 2, tools: 5 });
    expect(logs.text).not.toContain('ann-token-1');
    expect(logs.text).not.toContain('shared-static');
  });

  it('a user without a stored credential gets none of that server’s tools', async () => {
    const cid = await user('cid');
    const { pool, manager } = await poolWith();
    const bridge = await pool.acquire(member(cid));
    expect(bridge.tools).toBe(manager.tools());
    expect(bridge.tools.some((t) => t.server === 'personal')).toBe(false);
    expect(bridge.tools.some((t) => t.server === 'shared')).toBe(true);
    expect((await bridge.call('bmcp_personal_whoami', {})).isError).toBe(true);
  });

  it('concurrent first requests share one creation, and later ones reuse it', async () => {
    const dee = await user('dee', 'dee-token');
    const { pool, manager } = await poolWith();
    const sessionsBefore = personal.sessions;
    const bridges = await Promise.all(Array.from({ length: 8 }, () => pool.acquire(member(dee))));
    expect(new Set(bridges).size).toBe(1);
    expect(await pool.acquire(member(dee))).toBe(bridges[0]);
    expect(personal.sessions - sessionsBefore).toBe(1);
    expect(manager.status().personal?.users).toBe(1);
    expect(pool.size).toBe(1);
  });

  it('evicts the least recently used user beyond maxUsers and closes their connections', async () => {
    const [e1, e2, e3] = [await user('e1', 't1'), await user('e2', 't2'), await user('e3', 't3')];
    const { pool, manager } = await poolWith({ maxUsers: 2 });
    const b1 = await pool.acquire(member(e1));
    await pool.acquire(member(e2));
    await pool.acquire(member(e1)); // e1 is now the most recent; e2 goes next
    await pool.acquire(member(e3));
    expect(pool.size).toBe(2);
    expect(manager.status().personal?.users).toBe(2);
    expect(await pool.acquire(member(e1))).toBe(b1);
    const b2 = await pool.acquire(member(e2)); // rebuilt, evicting e3 (least recent)
    expect(text(await b2.call('bmcp_personal_whoami', {}))).toBe('Bearer t2');
    expect(manager.status().personal?.users).toBe(2);
  });

  it('closes an idle user’s connections and rebuilds on their next request', async () => {
    const fay = await user('fay', 'fay-token');
    const { pool, manager } = await poolWith({ idleMs: 100 });
    const first = await pool.acquire(member(fay));
    await vi.waitFor(() => expect(manager.status().personal?.users).toBe(0), { timeout: 3_000 });
    const closed = await first.call('bmcp_personal_whoami', {});
    expect(closed.error).toMatch(/closed/);
    const second = await pool.acquire(member(fay));
    expect(second).not.toBe(first);
    expect(text(await second.call('bmcp_personal_whoami', {}))).toBe('Bearer fay-token');
  });

  it('notices credentials changed elsewhere (the CLI) and reconnects with the new ones', async () => {
    const gus = await user('gus', 'old-token');
    const { pool } = await poolWith({ recheckMs: 0 });
    const before = await pool.acquire(member(gus));
    expect(text(await before.call('bmcp_personal_whoami', {}))).toBe('Bearer old-token');
    await credentials.set(gus, 'personal', { Authorization: 'Bearer new-token' });
    const after = await pool.acquire(member(gus));
    expect(after).not.toBe(before);
    expect(text(await after.call('bmcp_personal_whoami', {}))).toBe('Bearer new-token');
    await credentials.delete(gus, 'personal');
    expect((await pool.acquire(member(gus))).tools.some((t) => t.server === 'personal')).toBe(false);
  });

  it('without per-user servers every user of a role gets the one shared bridge', async () => {
    const { pool, manager } = await poolWith({}, [cfg('shared', shared.url)]);
    const hal = await pool.acquire(member(await user('hal')));
    expect(hal.tools).toBe(manager.tools());
    expect(await pool.acquire(member('anyone'))).toBe(hal);
    expect(pool.size).toBe(0);
  });

  it('gives each role its servers’ tools minus the user’s denied ones, the same array per access', async () => {
    const { pool, manager } = await poolWith({}, [
      cfg('shared', shared.url),
      cfg('owners', personal.url, { allowed_roles: ['owner'] }),
    ]);
    const owner = await pool.acquire({ _id: 'o1', role: 'owner' });
    const ann = await pool.acquire(member('m1'));
    const bob = await pool.acquire({ _id: 'm2', role: 'member', denied_servers: ['not-configured'] });
    const cut = await pool.acquire({ _id: 'm3', role: 'member', denied_servers: ['shared'] });
    expect(owner.tools).toBe(manager.tools());
    expect(new Set(ann.tools.map((t) => t.server))).toEqual(new Set(['shared']));
    expect(bob.tools).toBe(ann.tools); // same access: same array, so the injected block stays byte-stable
    expect(cut.tools).toEqual([]);

    // Any bmcp_ name of a configured server is the bridge's: offered, refused, or unknown.
    expect(ann.claim('get_weather')).toBeUndefined();
    expect(ann.claim('bmcp_elsewhere_echo')).toBeUndefined();
    expect(ann.claim('bmcp_shared_echo')).toMatchObject({ listed: true, refusal: null });
    expect(ann.claim('bmcp_owners_echo')).toMatchObject({
      tool: { server: 'owners', rawName: 'echo', serverUrl: personal.url },
      listed: true,
      refusal: 'MCP server "owners" is not allowed for role member',
    });
    expect(ann.claim('bmcp_shared_made_up')).toMatchObject({
      tool: { server: 'shared', rawName: 'made_up' },
      listed: false,
      refusal: null,
    });
    expect(cut.claim('bmcp_shared_echo')?.refusal).toBe('MCP server "shared" is denied to this user');

    const before = personal.calls.get('echo') ?? 0;
    expect(await ann.call('bmcp_owners_echo', { text: 'x' })).toMatchObject({
      isError: true,
      error: 'MCP server "owners" is not allowed for role member',
    });
    expect(personal.calls.get('echo') ?? 0).toBe(before);
    expect((await owner.call('bmcp_owners_echo', { text: 'for owners' })).isError).toBe(false);
    expect(personal.calls.get('echo')).toBe(before + 1);
  });
});

describe('tracing', () => {
  it('emits the spans named in the contract, nested, with their attributes', async () => {
    const exporter = new InMemorySpanExporter();
    // Through the bridge's own start-up: spans are a no-op check until tracing is started.
    const handle = await startTracing({ logs: false, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    try {
      const lee = await user('lee', 'lee-token');
      const { pool } = await poolWith();
      await pool.acquire(member(lee));
      const spans = exporter.getFinishedSpans();
      const byName = (n: string) => spans.filter((x) => x.name === n);
      const [init] = byName('ServerProxyManager.Init');
      const [sharedInit] = byName('StreamableHTTPServerProxy.Init').filter(
        (x) => x.attributes.mcp_server_name === 'shared',
      );
      const fetches = byName('StreamableHTTPServerProxy.Init.fetchTools');
      const [acquire] = byName('CachedBridgePool.Acquire');
      expect(init && sharedInit && acquire).toBeTruthy();
      expect(sharedInit?.parentSpanContext?.spanId).toBe(init?.spanContext().spanId);
      expect(fetches.some((f) => f.parentSpanContext?.spanId === sharedInit?.spanContext().spanId)).toBe(true);
      expect(acquire?.attributes.user_id).toBe(lee);
      // The user's own connection is made inside the acquire.
      const personalInit = byName('StreamableHTTPServerProxy.Init').find(
        (x) => x.attributes.mcp_server_name === 'personal',
      );
      expect(personalInit?.parentSpanContext?.spanId).toBe(acquire?.spanContext().spanId);
    } finally {
      await handle.stop();
    }
  });
});

describe('McpCredentials', () => {
  it('stores values encrypted, bound to their user and server, and lists names only', async () => {
    const ivy = await user('ivy');
    await credentials.set(ivy, 'personal', { Authorization: 'Bearer ivy-secret', 'X-Org': 'acme-secret' });
    const doc = (await store.credentials.get(ivy, 'personal'))!;
    expect(JSON.stringify(doc)).not.toMatch(/ivy-secret|acme-secret/);
    expect(doc).toMatchObject({ user_id: ivy, server: 'personal', header_names: ['Authorization', 'X-Org'] });
    expect(await credentials.get(ivy, 'personal')).toEqual({
      Authorization: 'Bearer ivy-secret',
      'X-Org': 'acme-secret',
    });
    const listed = await credentials.list(ivy);
    expect(listed).toEqual([
      expect.objectContaining({ user_id: ivy, server: 'personal', header_names: ['Authorization', 'X-Org'] }),
    ]);
    expect(JSON.stringify(listed)).not.toContain('secret');

    // Another key cannot open it; a sealed value moved to another row does not open either.
    const reported: string[] = [];
    const wrong = new McpCredentials(store.credentials, randomBytes(32));
    expect((await wrong.forUser(ivy, (server) => reported.push(server))).size).toBe(0);
    expect(reported).toEqual(['personal']);
    const jon = await user('jon');
    await store.credentials.upsert({ ...doc, _id: 'moved', user_id: jon });
    await expect(credentials.get(jon, 'personal')).rejects.toThrow(/cannot decrypt/);
    expect(await credentials.delete(ivy, 'personal')).toBe(true);
    expect(await credentials.get(ivy, 'personal')).toBeNull();
  });

  it('reads the key as hex or base64 and explains a missing or bad one', () => {
    expect(credentialsKeyFromEnv({ [CREDENTIALS_KEY_ENV]: KEY.toString('hex') }).equals(KEY)).toBe(true);
    expect(credentialsKeyFromEnv({ [CREDENTIALS_KEY_ENV]: KEY.toString('base64') }).equals(KEY)).toBe(true);
    expect(() => credentialsKeyFromEnv({})).toThrow(CredentialsKeyError);
    expect(() => credentialsKeyFromEnv({})).toThrow(/AIBRIDGE_CREDENTIALS_KEY.*openssl rand -base64 32/);
    expect(() => credentialsKeyFromEnv({ [CREDENTIALS_KEY_ENV]: 'c2hvcnQ=' })).toThrow(/not 32 bytes/);
  });

  it('parses --header lines', () => {
    expect(parseHeader('Authorization: Bearer a:b')).toEqual(['Authorization', 'Bearer a:b']);
    expect(() => parseHeader('no colon')).toThrow();
    expect(() => parseHeader('Bad Name: x')).toThrow();
  });
});

describe('aibridge mcp-credentials and the server', () => {
  it('sets, lists (names only), and deletes through the CLI; the server uses them', async () => {
    const env = { [CREDENTIALS_KEY_ENV]: KEY.toString('base64') };
    const dir = mkdtempSync(join(tmpdir(), 'aibridge-mcp-'));
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(
      file,
      [
        `data_dir: ${store.dataDir}`,
        'mcp_servers:',
        `  - { name: personal, url: "${personal.url}", per_user_credentials: true }`,
        '',
      ].join('\n'),
    );
    const kim = await user('kim');
    const set = await runCli(
      ['mcp-credentials', 'set', 'kim', 'personal', '--header', 'Authorization: Bearer kim-cli-secret', '-c', file],
      env,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout + set.stderr).not.toContain('kim-cli-secret');
    expect(await credentials.get(kim, 'personal')).toEqual({ Authorization: 'Bearer kim-cli-secret' });

    const unknown = await runCli(['mcp-credentials', 'set', 'kim', 'nope', '--header', 'A: b', '-c', file], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no mcp_servers entry named "nope"/);
    const noKey = await runCli(['mcp-credentials', 'set', 'kim', 'personal', '--header', 'A: b', '-c', file], {
      [CREDENTIALS_KEY_ENV]: '',
    });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/AIBRIDGE_CREDENTIALS_KEY/);

    const listed = await runCli(['mcp-credentials', 'list', 'kim', '-c', file], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ username: 'kim', user_id: kim, server: 'personal', headers: ['Authorization'] }),
    ]);
    expect(listed.stdout).not.toContain('kim-cli-secret');

    // The running server injects kim's tools with kim's header, and /readyz reports the server.
    vi.stubEnv(CREDENTIALS_KEY_ENV, KEY.toString('hex'));
    const bridge = await startTestBridge(store, {
      mcp_servers: [{ name: 'personal', url: personal.url, per_user_credentials: true }],
    });
    try {
      const mcp = bridge.ctx.mcp;
      if (!mcp) throw new Error('mcpService did not set ctx.mcp');
      const kimBridge = await mcp.pool.acquire(member(kim));
      expect(text(await kimBridge.call('bmcp_personal_whoami', {}))).toBe('Bearer kim-cli-secret');
      const ready = (await (await fetch(`${bridge.url}/readyz`)).json()) as Record<string, unknown>;
      expect(ready.mcp_servers).toEqual({
        personal: { state: 'ready', url: personal.url, tools: 5, last_error: null, per_user: true, users: 1 },
      });
      expect(bridge.logs.text).not.toContain('kim-cli-secret');
    } finally {
      await bridge.close();
      vi.unstubAllEnvs();
    }

    const deleted = await runCli(['mcp-credentials', 'delete', 'kim', 'personal', '-c', file], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await credentials.get(kim, 'personal')).toBeNull();
    const again = await runCli(['mcp-credentials', 'delete', 'kim', 'personal', '-c', file], env);
    expect(again.code).toBe(1);
  });

  it('refuses to start with a per-user server and no key', async () => {
    vi.stubEnv(CREDENTIALS_KEY_ENV, '');
    try {
      await expect(
        startTestBridge(store, { mcp_servers: [{ name: 'personal', url: personal.url, per_user_credentials: true }] }),
      ).rejects.toThrow(/AIBRIDGE_CREDENTIALS_KEY/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
