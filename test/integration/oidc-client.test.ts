import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OidcConfig } from '../../src/config/config.ts';
import { OidcClient, type SignInStart } from '../../src/identity/oidc/client.ts';
import { OidcError } from '../../src/identity/oidc/errors.ts';
import { claimsToIdentity } from '../../src/identity/oidc/identity.ts';
import { HttpBrowser, loginAs } from '../helpers/http-browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';

// The provider redirects here; the test stops at the redirect, as a browser would arrive at the bridge.
const CALLBACK = 'http://127.0.0.1:4999/api/v2/aibridge/sso/callback';
const SIGNED_OUT = 'http://127.0.0.1:4999/signed-out';
const ALICE = { username: 'alice', password: 'alice-pw', email: 'alice@corp.example.com', groups: ['dev', 'security'] };
const BOB = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example.com', groups: ['dev'] };

function settingsFor(idp: TestOidcProvider, extra: Partial<OidcConfig> = {}): OidcConfig {
  return {
    issuer: idp.issuer,
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    groups_claim: 'groups',
    roles: { owner: ['platform-admins'], auditor: ['security'] },
    clock_tolerance: '30s',
    ...extra,
  };
}

/** Sends a fresh browser (or the one given) through the sign-in; returns the callback URL it was sent to. */
async function signInAt(start: SignInStart, user = ALICE, browser = new HttpBrowser()): Promise<string> {
  const { stoppedAt, page } = await browser.walk(start.url, {
    answer: loginAs(user.username, user.password),
    stopAt: (url) => url.startsWith(CALLBACK),
  });
  if (!stoppedAt) throw new Error(`the sign-in ended on a page (${page?.status}): ${page?.html.slice(0, 300)}`);
  return stoppedAt;
}

async function refusal(work: Promise<unknown>): Promise<OidcError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OidcError);
  return err as OidcError;
}

let idp: TestOidcProvider;
let client: OidcClient;

beforeAll(async () => {
  idp = await startOidcProvider({
    redirectUris: [CALLBACK],
    postLogoutRedirectUris: [SIGNED_OUT],
    users: [ALICE, BOB],
  });
  client = new OidcClient(settingsFor(idp), { retryDelaysMs: [0] });
});
afterAll(async () => {
  expect(idp.serverErrors).toEqual([]);
  await idp.close();
});

describe('authorization code with PKCE against a real provider', () => {
  it('signs a person in over HTTP and yields their claims with groups', async () => {
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const asked = new URL(start.url);
    expect(asked.origin).toBe(idp.issuer);
    expect(Object.fromEntries(asked.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: idp.clientId,
      redirect_uri: CALLBACK,
      scope: 'openid profile email groups', // the provider offers a `groups` scope, so it is asked for
      code_challenge_method: 'S256',
      state: start.state,
      nonce: start.nonce,
    });
    expect(asked.searchParams.get('code_challenge')).not.toBe(start.codeVerifier);
    expect(start.url).not.toContain(idp.clientSecret);

    const callback = await signInAt(start);
    const { claims, idToken } = await client.completeSignIn(callback, start);
    expect(claims).toMatchObject({
      iss: idp.issuer,
      sub: idp.subjectOf('alice'),
      aud: idp.clientId,
      preferred_username: 'alice',
      email: 'alice@corp.example.com',
      groups: ['dev', 'security'],
      nonce: start.nonce,
    });
    expect(idToken.split('.')).toHaveLength(3);
    expect(claimsToIdentity(claims, client.settings)).toMatchObject({
      subject: idp.subjectOf('alice'),
      issuer: idp.issuer,
      username: 'alice',
      groups: ['dev', 'security'],
      role: 'auditor',
    });
  });

  it('refuses a callback whose state is not the sign-in’s, before redeeming its code', async () => {
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const callback = await signInAt(start);
    const before = idp.tokenRequests;
    const other = await client.beginSignIn({ redirectUri: CALLBACK });
    const err = await refusal(client.completeSignIn(callback, { ...start, state: other.state }));
    expect(err.code).toBe('state_mismatch');
    const noState = new URL(callback);
    noState.searchParams.delete('state');
    expect((await refusal(client.completeSignIn(noState, start))).code).toBe('state_mismatch');
    expect(idp.tokenRequests).toBe(before);
    // The untouched callback still works: nothing was spent.
    await expect(client.completeSignIn(callback, start)).resolves.toMatchObject({
      claims: { preferred_username: 'alice' },
    });
  });

  it('refuses a replayed code, a wrong code and a wrong PKCE verifier', async () => {
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const callback = await signInAt(start);
    await client.completeSignIn(callback, start);
    const replay = await refusal(client.completeSignIn(callback, start));
    expect(replay.code).toBe('code_rejected');
    const code = new URL(callback).searchParams.get('code') as string;
    expect(`${replay.message} ${replay.reason}`).not.toContain(code);

    const wrong = new URL(callback);
    wrong.searchParams.set('code', 'not-a-code-the-provider-issued');
    expect((await refusal(client.completeSignIn(wrong, start))).code).toBe('code_rejected');

    const fresh = await client.beginSignIn({ redirectUri: CALLBACK });
    const freshCallback = await signInAt(fresh);
    const verifier = await refusal(
      client.completeSignIn(freshCallback, { ...fresh, codeVerifier: start.codeVerifier }),
    );
    expect(verifier.code).toBe('code_rejected');
  });

  it('refuses an ID token with a bad signature, a wrong audience or a wrong nonce', async () => {
    const cases: Array<[string, () => void, Partial<SignInStart>?]> = [
      ['bad signature', () => idp.rewriteNextIdToken({ signedBy: 'foreign' })],
      ['wrong audience', () => idp.rewriteNextIdToken({ claims: (c) => ({ ...c, aud: 'another-client' }) })],
      ['wrong issuer', () => idp.rewriteNextIdToken({ claims: (c) => ({ ...c, iss: 'https://evil.example.com' }) })],
      ['no signature', () => idp.rewriteNextIdToken({ signedBy: 'none' })],
      ['wrong nonce', () => {}, { nonce: 'a-nonce-from-another-sign-in' }],
    ];
    for (const [name, tamper, override] of cases) {
      const start = await client.beginSignIn({ redirectUri: CALLBACK });
      const callback = await signInAt(start);
      tamper();
      const err = await refusal(client.completeSignIn(callback, { ...start, ...override }));
      expect(err.code, name).toBe('invalid_id_token');
      expect(err.message).toBe("the identity provider's ID token failed validation");
    }
  });

  it('sees a changed group at the next sign-in (the provider session is kept, no form this time)', async () => {
    const browser = new HttpBrowser();
    idp.updateUser('bob', { groups: ['dev', 'platform-admins'] });
    const first = await client.beginSignIn({ redirectUri: CALLBACK });
    const owner = await client.completeSignIn(await signInAt(first, BOB, browser), first);
    expect(claimsToIdentity(owner.claims, client.settings)).toMatchObject({ username: 'bob', role: 'owner' });

    idp.updateUser('bob', { groups: ['dev'] });
    const second = await client.beginSignIn({ redirectUri: CALLBACK });
    const noForm = await browser.walk(second.url, {
      answer: () => {
        throw new Error('the provider session should sign bob in without a form');
      },
      stopAt: (url) => url.startsWith(CALLBACK),
    });
    const member = await client.completeSignIn(noForm.stoppedAt as string, second);
    expect(claimsToIdentity(member.claims, client.settings)).toMatchObject({
      username: 'bob',
      groups: ['dev'],
      role: 'member',
    });
  });

  it('refuses a disabled person at the form, and a code issued before they were disabled', async () => {
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const callback = await signInAt(start, BOB);
    idp.updateUser('bob', { disabled: true });
    try {
      expect((await refusal(client.completeSignIn(callback, start))).code).toBe('code_rejected');
      const again = await client.beginSignIn({ redirectUri: CALLBACK });
      const { stoppedAt, page } = await new HttpBrowser().walk(again.url, { answer: loginAs('bob', BOB.password) });
      expect(stoppedAt).toBeUndefined();
      expect(page?.status).toBe(401);
      expect(page?.html).toContain('This account is disabled.');
    } finally {
      idp.updateUser('bob', { disabled: false });
    }
  });

  it('respects the clock tolerance on an expired ID token', async () => {
    const tolerant = new OidcClient(settingsFor(idp, { clock_tolerance: '60s' }));
    const strict = new OidcClient(settingsFor(idp, { clock_tolerance: '5s' }));
    const expiredBy = (seconds: number) => (claims: Record<string, any>) => ({
      ...claims,
      iat: Math.floor(Date.now() / 1000) - 600,
      exp: Math.floor(Date.now() / 1000) - seconds,
    });

    const ok = await tolerant.beginSignIn({ redirectUri: CALLBACK });
    const okCallback = await signInAt(ok);
    idp.rewriteNextIdToken({ claims: expiredBy(30) });
    await expect(tolerant.completeSignIn(okCallback, ok)).resolves.toMatchObject({
      claims: { sub: expect.any(String) },
    });

    const late = await tolerant.beginSignIn({ redirectUri: CALLBACK });
    const lateCallback = await signInAt(late);
    idp.rewriteNextIdToken({ claims: expiredBy(90) });
    const tooLate = await refusal(tolerant.completeSignIn(lateCallback, late));
    expect(tooLate.code).toBe('invalid_id_token');
    expect(tooLate.reason).toContain('OAUTH_JWT_TIMESTAMP_CHECK_FAILED');

    const tight = await strict.beginSignIn({ redirectUri: CALLBACK });
    const tightCallback = await signInAt(tight);
    idp.rewriteNextIdToken({ claims: expiredBy(30) });
    expect((await refusal(strict.completeSignIn(tightCallback, tight))).code).toBe('invalid_id_token');
  });

  it('says when the person declined or the provider refused, without repeating its description', async () => {
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const callback = new URL(CALLBACK);
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', '<script>alert(1)</script>');
    callback.searchParams.set('state', start.state);
    callback.searchParams.set('iss', idp.issuer);
    const err = await refusal(client.completeSignIn(callback, start));
    expect(err.code).toBe('authorization_refused');
    expect(err.reason).toBe('access_denied');
    expect(`${err.message}${err.reason}`).not.toContain('script');
  });

  it('gives the provider’s sign-out URL, which ends the provider session', async () => {
    const browser = new HttpBrowser();
    const start = await client.beginSignIn({ redirectUri: CALLBACK });
    const { idToken } = await client.completeSignIn(await signInAt(start, ALICE, browser), start);
    const logout = await client.logoutUrl(idToken, SIGNED_OUT);
    expect(logout).toBeDefined();
    expect(new URL(logout as string).searchParams.get('post_logout_redirect_uri')).toBe(SIGNED_OUT);
    const out = await browser.walk(logout as string, {
      answer: (form) => ('logout' in form.fields || form.id === 'op.logoutForm' ? { logout: 'yes' } : {}),
      stopAt: (url) => url.startsWith(SIGNED_OUT),
    });
    expect(out.stoppedAt).toBe(SIGNED_OUT);
    // Signed out at the provider: the next sign-in shows the form again.
    const next = await client.beginSignIn({ redirectUri: CALLBACK });
    const shown = await browser.walk(next.url, { answer: () => undefined });
    expect(shown.page?.html).toContain('id="login"');
  });
});

describe('other provider set-ups', () => {
  it('authenticates with client_secret_post when the client is registered so; a wrong secret fails clearly', async () => {
    const postIdp = await startOidcProvider({
      redirectUris: [CALLBACK],
      users: [ALICE],
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    try {
      const post = new OidcClient(settingsFor(postIdp, { token_endpoint_auth_method: 'client_secret_post' }));
      const start = await post.beginSignIn({ redirectUri: CALLBACK });
      await expect(post.completeSignIn(await signInAt(start), start)).resolves.toMatchObject({
        claims: { preferred_username: 'alice' },
      });
      const wrongSecret = 'not-the-registered-secret';
      const wrong = new OidcClient(
        settingsFor(postIdp, { token_endpoint_auth_method: 'client_secret_post', client_secret: wrongSecret }),
      );
      const again = await wrong.beginSignIn({ redirectUri: CALLBACK });
      const err = await refusal(wrong.completeSignIn(await signInAt(again), again));
      expect(err.code).toBe('provider_error');
      expect(err.reason).toBe('invalid_client');
      expect(`${err.message}${err.reason}`).not.toContain(wrongSecret);
    } finally {
      await postIdp.close();
    }
  });

  it('completes groups and names from userinfo when the ID token carries only the required claims', async () => {
    const lean = await startOidcProvider({ redirectUris: [CALLBACK], users: [ALICE], claimsInIdToken: false });
    try {
      const rp = new OidcClient(settingsFor(lean));
      const start = await rp.beginSignIn({ redirectUri: CALLBACK });
      const { claims, idToken } = await rp.completeSignIn(await signInAt(start), start);
      const inToken = JSON.parse(Buffer.from(idToken.split('.')[1] as string, 'base64url').toString());
      expect(inToken.groups).toBeUndefined();
      expect(claims).toMatchObject({
        sub: lean.subjectOf('alice'),
        preferred_username: 'alice',
        groups: ['dev', 'security'],
      });
    } finally {
      await lean.close();
    }
  });

  it('retries discovery, shares one discovery among concurrent callers and never caches a failure', async () => {
    const rp = new OidcClient(settingsFor(idp), { retryDelaysMs: [0, 0] });
    const before = idp.discoveryRequests;
    idp.failDiscovery(1);
    const starts = await Promise.all([1, 2, 3].map(() => rp.beginSignIn({ redirectUri: CALLBACK })));
    expect(new Set(starts.map((s) => s.state)).size).toBe(3);
    expect(idp.discoveryRequests - before).toBe(2); // one failure, one retry, for all three

    const down = new OidcClient(settingsFor(idp), { retryDelaysMs: [0, 0] });
    idp.failDiscovery(3);
    const err = await refusal(down.beginSignIn({ redirectUri: CALLBACK }));
    expect(err.code).toBe('provider_unavailable');
    await expect(down.beginSignIn({ redirectUri: CALLBACK })).resolves.toMatchObject({ redirectUri: CALLBACK });
  });

  it('keeps the metadata in hand when a refresh fails, and does not ask again at every sign-in', async () => {
    const rp = new OidcClient(settingsFor(idp), { retryDelaysMs: [], metadataTtlMs: 0 });
    await rp.beginSignIn({ redirectUri: CALLBACK });
    const before = idp.discoveryRequests;
    idp.failDiscovery(1);
    const start = await rp.beginSignIn({ redirectUri: CALLBACK });
    await rp.beginSignIn({ redirectUri: CALLBACK });
    expect(idp.discoveryRequests - before).toBe(1);
    await expect(rp.completeSignIn(await signInAt(start), start)).resolves.toMatchObject({
      claims: { preferred_username: 'alice' },
    });
  });

  it('reports an unreachable provider as unavailable, without its address', async () => {
    const gone = await startOidcProvider({ redirectUris: [CALLBACK] });
    await gone.close();
    const rp = new OidcClient(settingsFor(gone), { retryDelaysMs: [0] });
    const err = await refusal(rp.beginSignIn({ redirectUri: CALLBACK }));
    expect(err.code).toBe('provider_unavailable');
    expect(err.message).not.toContain('127.0.0.1');
  });
});

describe('device authorization (the CLI’s sign-in)', () => {
  it('starts, stays pending until the person approves on the provider’s page, then yields their identity', async () => {
    const login = await client.startDeviceLogin();
    expect(login).toMatchObject({
      user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/),
      verification_uri: `${idp.issuer}/device`,
      expires_in: expect.any(Number),
      interval: 5, // the provider names none: RFC 8628's default
    });
    expect(new URL(login.verification_uri_complete).searchParams.get('user_code')).toBe(login.user_code);
    await expect(client.pollDeviceLogin(login.device_code)).resolves.toEqual({ status: 'pending', interval: 5 });

    const approved = await new HttpBrowser().walk(login.verification_uri_complete, {
      answer: loginAs(ALICE.username, ALICE.password),
    });
    expect(approved.page?.html).toContain('Device signed in');

    const done = await client.pollDeviceLogin(login.device_code);
    expect(done.status).toBe('done');
    if (done.status !== 'done') return;
    expect(claimsToIdentity(done.claims, client.settings)).toMatchObject({
      subject: idp.subjectOf('alice'),
      username: 'alice',
      groups: ['dev', 'security'],
      role: 'auditor',
    });
    // A device code gives tokens once.
    expect((await refusal(client.pollDeviceLogin(login.device_code))).code).toBe('code_rejected');
  });

  it('reports a declined sign-in, an unknown code, and a tampered ID token', async () => {
    const declined = await client.startDeviceLogin();
    const aborted = await new HttpBrowser().walk(declined.verification_uri_complete, {
      answer: (form) => {
        if (form.id === 'op.deviceInputForm') return undefined; // back at the start: done
        return form.id === 'op.deviceConfirmForm' ? { abort: 'yes' } : {};
      },
    });
    expect(aborted.page?.html).toContain('The sign-in was aborted.');
    expect((await refusal(client.pollDeviceLogin(declined.device_code))).code).toBe('access_denied');

    expect((await refusal(client.pollDeviceLogin('no-such-device-code'))).code).toBe('code_rejected');

    const tampered = await client.startDeviceLogin();
    await new HttpBrowser().walk(tampered.verification_uri_complete, { answer: loginAs(BOB.username, BOB.password) });
    idp.rewriteNextIdToken({ claims: (c) => ({ ...c, aud: 'another-client' }) });
    expect((await refusal(client.pollDeviceLogin(tampered.device_code))).code).toBe('invalid_id_token');
  });

  it('stops polling when asked', async () => {
    const login = await client.startDeviceLogin();
    const stop = new AbortController();
    const polling = login.poll(stop.signal);
    stop.abort(new Error('cancelled by the test'));
    await expect(polling).rejects.toThrow('cancelled by the test');
  });
});
