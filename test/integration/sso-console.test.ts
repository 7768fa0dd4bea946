/**
 * Single sign-on in the console against a real OpenID provider (the certified `oidc-provider`),
 * through the real bridge, over plain HTTP as a browser would walk it: users created and updated
 * from the claims at every sign-in, and every forged or replayed step refused.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssoUserId } from '../../src/identity/sso-directory.ts';
import { HttpBrowser, loginAs } from '../helpers/http-browser.ts';
import { CLI, NODE, runCli, waitForOutput } from '../helpers/process.ts';
import { type SsoWorld, startSsoWorld } from '../helpers/sso-bridge.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-sso-');
const CAROL = { username: 'carol', password: 'carol-pw', email: 'carol@corp.example.com', groups: ['dev', 'ops'] };
const ALICE = { username: 'alice', password: 'alice-pw', email: 'alice@corp.example.com', groups: ['dev', 'security'] };
const OLGA = { username: 'olga', password: 'olga-pw', email: 'olga@corp.example.com', groups: ['platform-admins'] };
const BOB = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example.com', groups: ['sales'] };

let world: SsoWorld;
beforeAll(async () => {
  world = await startSsoWorld([ALICE, OLGA, BOB, CAROL]);
});
afterAll(() => world?.close());

const START = '/api/v2/aibridge/session/sso/start';
const isCallback = (url: string) => url.startsWith(`${world.url}/api/v2/aibridge/session/sso/callback`);

/** Starts a sign-in as the browser would: the pending cookie the bridge set, and the provider's URL. */
async function start(): Promise<{ pending: string; providerUrl: string }> {
  const response = await fetch(`${world.url}${START}`, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const pending = response.headers
    .getSetCookie()
    .find((c) => c.startsWith('aibridge_sso='))
    ?.split(';')[0] as string;
  expect(pending).toBeDefined();
  expect(response.headers.getSetCookie()[0]).toMatch(/HttpOnly; SameSite=Lax; Max-Age=600/);
  return { pending, providerUrl: response.headers.get('location') as string };
}

/** Signs in at the provider's form and returns the callback URL it sends the browser to. */
async function atProvider(providerUrl: string, user = ALICE, browser = new HttpBrowser()): Promise<string> {
  const { stoppedAt } = await browser.walk(providerUrl, {
    answer: loginAs(user.username, user.password),
    stopAt: isCallback,
  });
  expect(stoppedAt).toBeDefined();
  return stoppedAt as string;
}

/** The bridge's answer to a callback: where it sends the browser, and the session cookie if it set one. */
async function callback(url: string, pending: string) {
  const response = await fetch(url, { redirect: 'manual', headers: { cookie: pending } });
  const cookies = response.headers.getSetCookie();
  const session = cookies.find((c) => c.startsWith('aibridge_session='))?.split(';')[0];
  return { status: response.status, location: response.headers.get('location'), session, cookies };
}

async function signIn(user = ALICE, browser = new HttpBrowser()) {
  const { pending, providerUrl } = await start();
  return callback(await atProvider(providerUrl, user, browser), pending);
}

const me = (session: string) =>
  fetch(`${world.url}/api/v2/aibridge/users/me`, { headers: { cookie: session } }).then((r) => r.json());

describe('console sign-in with single sign-on', () => {
  it('is offered by the console', async () => {
    const answer = await fetch(`${world.url}/api/v2/aibridge/session/sso`).then((r) => r.json());
    expect(answer).toEqual({ enabled: true, start: START });
  });

  it('creates the user at the first sign-in with the mapped role, e-mail and teams from the groups', async () => {
    const first = await signIn();
    expect(first).toMatchObject({ status: 303, location: '/' });
    expect(first.session).toBeDefined();
    expect(first.cookies.find((c) => c.startsWith('aibridge_session='))).toMatch(/HttpOnly; SameSite=Strict/);
    const user = await me(first.session as string);
    expect(user).toMatchObject({
      username: 'alice',
      role: 'auditor',
      email: 'alice@corp.example.com',
      sso: true,
      teams: ['dev', 'security'],
    });
    expect(user.id).toBe(ssoUserId(world.idp.issuer, world.idp.subjectOf('alice')));
    const teams = await world.store.teams.list();
    expect(teams.filter((t) => ['dev', 'security'].includes(t.name)).every((t) => t.sso)).toBe(true);
    expect(world.bridge.logs.text).toContain('single sign-on: console sign-in');
  });

  it('updates role and teams at the next sign-in after a group change, keeping the user', async () => {
    world.idp.updateUser('alice', { groups: ['dev', 'platform-admins'] });
    const again = await signIn();
    const user = await me(again.session as string);
    expect(user).toMatchObject({ username: 'alice', role: 'owner', teams: ['dev', 'platform-admins'] });
    expect((await world.store.identity.users()).filter((u) => u.username.startsWith('alice'))).toHaveLength(1);
    world.idp.updateUser('alice', { groups: ['dev', 'security'] });
    expect(await me((await signIn()).session as string)).toMatchObject({ role: 'auditor', teams: ['dev', 'security'] });
  });

  it('refuses a callback whose state is not the pending sign-in’s, and one without a pending sign-in', async () => {
    const { pending, providerUrl } = await start();
    const url = new URL(await atProvider(providerUrl));
    url.searchParams.set('state', 'forged-state');
    expect(await callback(url.href, pending)).toMatchObject({
      location: '/?sso_error=state_mismatch',
      session: undefined,
    });
    const other = await start();
    const theirs = await atProvider(other.providerUrl);
    // A sign-in started in another browser (a login CSRF): this browser's pending cookie is not its.
    expect(await callback(theirs, (await start()).pending)).toMatchObject({ location: '/?sso_error=state_mismatch' });
    expect(await callback(theirs, '')).toMatchObject({ location: '/?sso_error=state_mismatch', session: undefined });
    expect(world.bridge.logs.text).toContain('"code":"state_mismatch"');
  });

  it('refuses a replayed code', async () => {
    const { pending, providerUrl } = await start();
    const url = await atProvider(providerUrl);
    const first = await callback(url, pending);
    expect(first.session).toBeDefined();
    expect(await callback(url, pending)).toMatchObject({ location: '/?sso_error=code_rejected', session: undefined });
  });

  it('refuses an ID token signed by another key, and one for another audience', async () => {
    world.idp.rewriteNextIdToken({ signedBy: 'foreign' });
    expect(await signIn()).toMatchObject({ location: '/?sso_error=invalid_id_token', session: undefined });
    world.idp.rewriteNextIdToken({ claims: (c) => ({ ...c, aud: 'another-client' }) });
    expect(await signIn()).toMatchObject({ location: '/?sso_error=invalid_id_token', session: undefined });
    world.idp.rewriteNextIdToken({ claims: (c) => ({ ...c, iss: 'http://127.0.0.1:1' }) });
    expect(await signIn()).toMatchObject({ location: '/?sso_error=invalid_id_token', session: undefined });
  });

  it('refuses a user disabled at the bridge whatever the provider says, and lets them in once enabled', async () => {
    const first = await signIn(BOB);
    expect(first.session).toBeDefined();
    await world.bridge.ctx.users.disable('bob');
    expect(await signIn(BOB)).toMatchObject({ location: '/?sso_error=user_disabled', session: undefined });
    expect((await me(first.session as string)).message).toMatch(/invalid or expired/);
    await world.bridge.ctx.users.enable('bob');
    expect((await signIn(BOB)).session).toBeDefined();
  });

  it('never demotes the last owner through a group change', async () => {
    const olga = await signIn(OLGA);
    expect(await me(olga.session as string)).toMatchObject({ role: 'owner' });
    // The bootstrap admin is another enabled owner; without them, olga is the last.
    const admin = await world.bridge.ctx.users.byUsername('admin');
    if (admin) await world.store.identity.updateUser(admin._id, { disabled_at: new Date() });
    world.idp.updateUser('olga', { groups: [] });
    expect(await signIn(OLGA)).toMatchObject({ location: '/?sso_error=last_owner', session: undefined });
    if (admin) await world.store.identity.updateUser(admin._id, { disabled_at: null });
    world.idp.updateUser('olga', { groups: ['platform-admins'] });
  });

  it('signs out of the bridge and offers the provider’s sign-out page', async () => {
    const { session } = await signIn();
    const out = await fetch(`${world.url}/api/v2/aibridge/session`, {
      method: 'DELETE',
      headers: { cookie: session as string, 'x-aibridge-csrf': '1' },
    });
    expect(out.status).toBe(200);
    const { logout_url } = await out.json();
    const logout = new URL(logout_url);
    expect(logout.origin).toBe(new URL(world.idp.issuer).origin);
    expect(logout.searchParams.get('post_logout_redirect_uri')).toBe(`${world.url}/`);
    expect(logout.searchParams.get('client_id')).toBe(world.idp.clientId);
    expect((await me(session as string)).message).toMatch(/invalid or expired/);
    // The provider takes it (the client and its registered address) and sends the browser back to the console.
    const back = await new HttpBrowser().walk(logout_url, { stopAt: (to) => to === `${world.url}/` });
    expect(back.stoppedAt).toBe(`${world.url}/`);
  });
});

describe('aibridge login against the same provider, through the bridge', () => {
  it('gives a CLI user a named, expiring token by the device flow, with their user and teams made as at a console sign-in', async () => {
    const home = tempDir();
    const env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      AIBRIDGE_URL: '',
      AIBRIDGE_SESSION_TOKEN: '',
    };
    const child = spawn(NODE, [CLI, 'login', '--url', world.url, '--device', '--name', 'ci box', '--expires', '7d'], {
      env,
      stdio: 'pipe',
    });
    const finished = new Promise<number | null>((resolve) => child.on('close', resolve));
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const shown = await waitForOutput(child, /Waiting for approval/);
    const link = /(http:\/\/127\.0\.0\.1:\d+\/device\?user_code=[A-Z-]+)/.exec(shown)?.[1];
    expect(link, shown).toBeDefined();
    const approved = await new HttpBrowser().walk(link as string, { answer: loginAs(CAROL.username, CAROL.password) });
    expect(approved.page?.html).toContain('Device signed in');
    expect(await finished, stderr).toBe(0);
    expect(stderr).toMatch(/Signed in as carol \(member\)\. Token "ci box" expires/);

    const saved = JSON.parse(readFileSync(join(home, 'config', 'aibridge', 'credentials.json'), 'utf8'));
    const { token } = saved.bridges[world.url];
    const user = await fetch(`${world.url}/api/v2/aibridge/users/me`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.json());
    expect(user).toMatchObject({ username: 'carol', sso: true, teams: ['dev', 'ops'] });
    const tokens = await world.bridge.ctx.users.tokens(user.id);
    expect(tokens.map((t) => t.name)).toEqual(['ci box']);
    const days = (tokens[0]!.expires_at!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    // Later commands use the saved token: carol, a member, sees her own (empty) usage.
    const usage = await runCli(['usage', '--url', world.url, '-o', 'json'], env);
    expect(usage.code, usage.stderr).toBe(0);
    expect(world.bridge.logs.text).not.toContain(token);

    // Leaving a group at the provider ends no token already issued, so none of hers lives past 90 days,
    const minted = await fetch(`${world.url}/api/v2/aibridge/users/me/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'for ever' }),
    }).then((r) => r.json());
    const mintedDays = (Date.parse(minted.expires_at) - Date.now()) / 86_400_000;
    expect(mintedDays).toBeGreaterThan(89.9);
    expect(mintedDays).toBeLessThanOrEqual(90);
    // and a console session opened with a token ends when the token does.
    const nearlyGone = await world.bridge.ctx.users.createToken(user.id, {
      name: 'nearly gone',
      expiresAt: new Date(Date.now() + 60_000),
    });
    const session = await fetch(`${world.url}/api/v2/aibridge/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: world.url },
      body: JSON.stringify({ token: nearlyGone.token }),
    });
    expect(session.status).toBe(200);
    expect(Number(/Max-Age=(\d+)/.exec(session.headers.getSetCookie()[0] ?? '')?.[1])).toBeLessThanOrEqual(60);
    const sessions = (await world.bridge.ctx.users.tokens(user.id)).filter((t) => t.kind === 'console');
    expect(sessions.at(-1)?.expires_at?.getTime()).toBeLessThanOrEqual(nearlyGone.key.expires_at!.getTime());
  });

  it('keeps the pending sign-in in a __Host- cookie over HTTPS, which no sibling subdomain can plant', async () => {
    const response = await fetch(`${world.url}${START}`, {
      redirect: 'manual',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(response.status).toBe(302);
    const [cookie] = response.headers.getSetCookie();
    expect(cookie).toMatch(/^__Host-aibridge_sso=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/);
  });
});
