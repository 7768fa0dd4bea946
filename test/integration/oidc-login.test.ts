import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OidcConfig } from '../../src/config/config.ts';
import { OidcClient } from '../../src/identity/oidc/client.ts';
import { sendApiError } from '../../src/server/api/errors.ts';
import { loginRoutes } from '../../src/server/api/login.ts';
import { SCHEMAS } from '../../src/server/api/schemas.ts';
import { HttpBrowser, loginAs } from '../helpers/http-browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { CLI, NODE, runCli, waitForOutput } from '../helpers/process.ts';
import { MemoryDirectory } from '../helpers/sso-directory.ts';
import { tempDirs } from '../helpers/temp.ts';

const ALICE = { username: 'alice', password: 'alice-pw', email: 'alice@corp.example.com', groups: ['dev', 'security'] };
const BOB = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example.com', groups: ['sales'] };
const tempDir = tempDirs('aibridge-login-');

interface LoginServer {
  url: string;
  directory: MemoryDirectory;
  /** Tokens issued, by token. */
  issued: Map<string, { userId: string; name: string; expiresAt: Date }>;
  /** Every log line the routes wrote. */
  logs: string[];
  /** Bearer tokens the stand-in `/usage` route was called with. */
  usageCalls: string[];
  post(path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** The login routes mounted as the API mounts them, with the directory and tokens in memory. */
async function startLoginServer(
  idp: TestOidcProvider | undefined,
  extra: Partial<OidcConfig> = {},
  startsPerMinute?: number,
): Promise<LoginServer> {
  const directory = new MemoryDirectory();
  const issued: LoginServer['issued'] = new Map();
  const logs: string[] = [];
  const usageCalls: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  const client = idp
    ? new OidcClient(
        {
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          groups_claim: 'groups',
          roles: { owner: ['platform-admins'], auditor: ['security'] },
          clock_tolerance: '30s',
          ...extra,
        },
        { retryDelaysMs: [0] },
      )
    : undefined;
  const app = Fastify();
  for (const [name, schema] of Object.entries(SCHEMAS)) app.addSchema({ ...schema, $id: name });
  await app.register(
    async (api) => {
      api.setErrorHandler((err, request, reply) => sendApiError(err, request, reply));
      loginRoutes(api, {
        oidc: () => client,
        directory,
        log,
        startsPerMinute,
        issueToken: async (userId, options) => {
          const token = `aib_${randomBytes(32).toString('base64url')}`;
          issued.set(token, { userId, ...options });
          return { token, apiKeyId: randomUUID() };
        },
      });
      // Stands in for any API route a later CLI command calls with the saved token.
      api.get('/usage', async (request, reply) => {
        const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
        usageCalls.push(token);
        if (!issued.has(token)) return reply.code(401).send({ message: 'invalid or expired session token' });
        return { group_by: [], groups: [] };
      });
    },
    { prefix: '/api/v2/aibridge' },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    url,
    directory,
    issued,
    logs,
    usageCalls,
    async post(path, body = {}) {
      const response = await fetch(`${url}/api/v2/aibridge${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
    },
    close: () => app.close(),
  };
}

const approve = (link: string, user = ALICE) =>
  new HttpBrowser().walk(link, { answer: loginAs(user.username, user.password) });

let idp: TestOidcProvider;
let server: LoginServer;

beforeAll(async () => {
  idp = await startOidcProvider({ redirectUris: ['http://127.0.0.1:4999/callback'], users: [ALICE, BOB] });
  server = await startLoginServer(idp);
});
afterAll(async () => {
  await server?.close();
  expect(idp.serverErrors).toEqual([]);
  await idp?.close();
});

describe('the login routes', () => {
  it('issue a named, expiring token once the person approves, creating the user from their claims', async () => {
    const started = await server.post('/login/device', { name: 'laptop', expires: '7d' });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({
      login: expect.stringMatching(/^v1\./),
      user_code: expect.any(String),
      verification_uri: `${idp.issuer}/device`,
      interval: 5,
    });
    expect(started.body.login).not.toContain(started.body.user_code);
    await approve(started.body.verification_uri_complete);

    const done = await server.post('/login/device/token', { login: started.body.login });
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({
      token: expect.stringMatching(/^aib_/),
      name: 'laptop',
      user: { username: 'alice', role: 'auditor' },
    });
    const sevenDays = Date.parse(done.body.expires_at) - Date.now();
    expect(sevenDays).toBeGreaterThan(7 * 86_400_000 - 60_000);
    expect(sevenDays).toBeLessThanOrEqual(7 * 86_400_000);
    const user = server.directory.byUsername('alice');
    expect(server.issued.get(done.body.token)).toMatchObject({ userId: user?.id, name: 'laptop' });
    expect(server.directory.teams.get(user?.id as string)).toEqual(['dev', 'security']);

    // The provider gives tokens for a device code once.
    const replay = await server.post('/login/device/token', { login: started.body.login });
    expect(replay.status).toBe(400);
    expect(replay.body.message).toContain('start again');
    expect(server.issued.size).toBe(1);
    // Nothing secret was logged.
    const logged = server.logs.join('');
    for (const secret of [done.body.token, started.body.login, idp.clientSecret]) expect(logged).not.toContain(secret);
  });

  it('answer pending until approval, and keep the provider’s pace whatever the caller does', async () => {
    const started = await server.post('/login/device');
    const before = idp.tokenRequests;
    const pending = await server.post('/login/device/token', { login: started.body.login });
    expect(pending).toMatchObject({ status: 202, body: { status: 'authorization_pending', interval: 5 } });
    const hurried = await server.post('/login/device/token', { login: started.body.login });
    expect(hurried).toMatchObject({ status: 202, body: { status: 'slow_down', interval: 5 } });
    expect(idp.tokenRequests - before).toBe(1);
  });

  it('refuse forged, altered and foreign handles without asking the provider', async () => {
    const started = await server.post('/login/device');
    const handle: string = started.body.login;
    const altered = `${handle.slice(0, -6)}${handle.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`;
    const otherIdp = await startOidcProvider({ redirectUris: ['http://127.0.0.1:4999/callback'], users: [ALICE] });
    const other = await startLoginServer(otherIdp);
    const foreign = (await other.post('/login/device')).body.login as string;
    await other.close();
    await otherIdp.close();
    const before = idp.tokenRequests;
    for (const login of ['v1.AAAA', 'not-a-handle', altered, foreign]) {
      const answer = await server.post('/login/device/token', { login });
      expect(answer.status, login).toBe(400);
      expect(answer.body.message).toBe('this sign-in is unknown or has expired; run aibridge login again');
    }
    expect((await server.post('/login/device/token', { login: 'x'.repeat(5000) })).status).toBe(400);
    expect((await server.post('/login/device/token', {})).status).toBe(400);
    expect(idp.tokenRequests).toBe(before);
  });

  it('check name and expiry before anyone approves', async () => {
    for (const expires of ['100d', 'soon', '2001-01-01T00:00:00Z']) {
      const answer = await server.post('/login/device', { expires });
      expect(answer.status, expires).toBe(400);
      expect(answer.body.validations[0].field).toBe('expires');
    }
    expect((await server.post('/login/device', { name: '' })).status).toBe(400);
    expect((await server.post('/login/device', { name: 'n'.repeat(101) })).status).toBe(400);
    expect((await server.post('/login/device', { expires: '90d' })).status).toBe(200);
  });

  it('say no when the person declines, is outside allowed_groups, or is disabled at the bridge', async () => {
    const declined = await server.post('/login/device');
    await new HttpBrowser().walk(declined.body.verification_uri_complete, {
      answer: (form) =>
        form.id === 'op.deviceInputForm' ? undefined : { abort: form.fields.confirm ? 'yes' : undefined },
    });
    expect(await server.post('/login/device/token', { login: declined.body.login })).toMatchObject({
      status: 403,
      body: { message: 'the sign-in was declined' },
    });

    const strict = await startLoginServer(idp, { allowed_groups: ['dev'] });
    try {
      const bob = await strict.post('/login/device');
      await approve(bob.body.verification_uri_complete, BOB);
      expect(await strict.post('/login/device/token', { login: bob.body.login })).toMatchObject({
        status: 403,
        body: { message: 'your account is not in a group allowed to use this bridge' },
      });
      expect(strict.directory.users.size).toBe(0);
    } finally {
      await strict.close();
    }

    const first = await server.post('/login/device');
    await approve(first.body.verification_uri_complete, BOB);
    expect((await server.post('/login/device/token', { login: first.body.login })).status).toBe(201);
    const stored = server.directory.byUsername('bob');
    if (!stored) throw new Error('bob was not created');
    (server.directory.users.get(stored.id) as { disabled: boolean }).disabled = true;
    const second = await server.post('/login/device');
    await approve(second.body.verification_uri_complete, BOB);
    const before = server.issued.size;
    expect(await server.post('/login/device/token', { login: second.body.login })).toMatchObject({
      status: 403,
      body: { message: 'your bridge account is disabled; ask an owner' },
    });
    expect(server.issued.size).toBe(before);
  });

  it('answer 404 without single sign-on, 503 when the provider is down, 429 when started too often', async () => {
    const off = await startLoginServer(undefined);
    try {
      expect(await off.post('/login/device')).toMatchObject({
        status: 404,
        body: { message: 'single sign-on is not configured on this bridge' },
      });
    } finally {
      await off.close();
    }

    const gone = await startOidcProvider({ redirectUris: ['http://127.0.0.1:4999/callback'] });
    const orphan = await startLoginServer(gone);
    await gone.close();
    try {
      const down = await orphan.post('/login/device');
      expect(down.status).toBe(503);
      expect(JSON.stringify(down.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    } finally {
      await orphan.close();
    }

    const limited = await startLoginServer(idp, {}, 2);
    try {
      expect((await limited.post('/login/device')).status).toBe(200);
      expect((await limited.post('/login/device')).status).toBe(200);
      const third = await limited.post('/login/device');
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

describe('aibridge login --device', () => {
  it('signs in through the provider, saves the token 0600 for that URL, and later commands use it', async () => {
    const home = tempDir();
    const configHome = join(home, 'config');
    const env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: configHome,
      AIBRIDGE_URL: '',
      AIBRIDGE_SESSION_TOKEN: '',
    };
    const child = spawn(
      NODE,
      [CLI, 'login', '--url', `${server.url}/`, '--device', '--name', 'ci laptop', '--expires', '7d'],
      { env, stdio: 'pipe' },
    );
    const finished = exited(child);
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c));
    const shown = await waitForOutput(child, /Waiting for approval/);
    const link = /(http:\/\/127\.0\.0\.1:\d+\/device\?user_code=[A-Z-]+)/.exec(shown)?.[1];
    expect(link, shown).toBeDefined();
    const code = new URL(link as string).searchParams.get('user_code') as string;
    expect(shown).toContain(`shows the code ${code}`);
    const approved = await approve(link as string);
    expect(approved.page?.html).toContain('Device signed in');

    expect(await finished, stderr).toBe(0);
    expect(stderr).toMatch(/Signed in as alice \(auditor\)\. Token "ci laptop" expires \d{4}-/);
    const path = join(configHome, 'aibridge', 'credentials.json');
    expect(stderr).toContain(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(configHome, 'aibridge')).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(readFileSync(path, 'utf8'));
    const entry = saved.bridges[server.url]; // keyed by the URL without its trailing slash
    expect(entry).toMatchObject({ name: 'ci laptop', username: 'alice', token: expect.stringMatching(/^aib_/) });
    expect(server.issued.get(entry.token)).toMatchObject({ name: 'ci laptop' });
    expect(stderr).not.toContain(entry.token);

    const usage = await runCli(['usage', '--url', server.url, '-o', 'json'], env);
    expect(usage.code, usage.stderr).toBe(0);
    expect(server.usageCalls.at(-1)).toBe(entry.token);
    // Another bridge's URL has no saved token.
    const elsewhere = await runCli(['usage', '--url', 'http://127.0.0.1:9'], env);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('run aibridge login --url URL');
  });

  it('stops with the bridge’s reason when it cannot start a sign-in', async () => {
    const home = tempDir();
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), AIBRIDGE_URL: '' };
    const bad = await runCli(['login', '--url', server.url, '--device', '--expires', '1y'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('the bridge answered 400');
    expect(bad.stderr).toContain('expires');
    const off = await startLoginServer(undefined);
    try {
      const none = await runCli(['login', '--url', off.url, '--device'], env);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('single sign-on is not configured on this bridge');
    } finally {
      await off.close();
    }
    expect((await runCli(['login', '--url', 'ftp://x', '--device'], env)).code).toBe(2);
  });
});
