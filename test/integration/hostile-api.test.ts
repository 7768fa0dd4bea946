/**
 * The console's session cookie and its CSRF rules (README, "Security") against a hostile browser page
 * and on a bad day: behind a TLS-terminating proxy, with a cookie planted by a sibling
 * subdomain, with a mangled cookie; and what API answers may be kept by a cache.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';

const API = '/api/v2/aibridge';
const CSRF = { 'x-aibridge-csrf': '1' };
const HTTPS = { 'x-forwarded-proto': 'https' };

let store: TestStore;
let bridge: TestBridge;
let host: string;
let mia: { id: string; token: string };

beforeAll(async () => {
  store = testEmbeddedStore();
  bridge = await startTestBridge(store, {
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: 'http://127.0.0.1:9', api_key: 'sk-ant-never-used' }],
  });
  host = new URL(bridge.url).host;
  mia = await bridge.user('mia');
});
afterAll(async () => {
  await bridge.close();
  await store.close();
});

const call = (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) =>
  fetch(`${bridge.url}${API}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

async function signIn(headers: Record<string, string> = {}) {
  const res = await call('/session', { method: 'POST', headers, body: { token: mia.token } });
  expect(res.status).toBe(200);
  const setCookie = res.headers.get('set-cookie') as string;
  return { setCookie, cookie: setCookie.split(';')[0] as string, res };
}

describe('behind a proxy that terminates TLS (X-Forwarded-Proto: https)', () => {
  it('the session cookie is Secure and __Host- prefixed, so neither plain HTTP nor a sibling subdomain can touch it', async () => {
    const { setCookie } = await signIn(HTTPS);
    const flags = setCookie.split(';').map((f) => f.trim());
    expect(setCookie).toMatch(/^__Host-aibridge_session=aib_/);
    expect(flags).toEqual(expect.arrayContaining(['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']));
    expect(flags.some((f) => f.toLowerCase().startsWith('domain='))).toBe(false);
  });

  it('console writes from the page (Origin https://host) are accepted; another origin is refused, saying why', async () => {
    const { cookie } = await signIn(HTTPS);
    const write = (origin: string) =>
      call('/users/me/tokens', {
        method: 'POST',
        headers: { cookie, ...CSRF, ...HTTPS, origin },
        body: { name: 'from the console behind TLS' },
      });
    expect((await write(`https://${host}`)).status).toBe(201);
    const evil = await write('https://evil.example');
    expect(evil.status).toBe(403);
    expect(await evil.json()).toEqual({
      message: 'cross-site request refused',
      detail: "the request's Origin (https://evil.example) is not the bridge's own address",
    });
    expect((await write(`https://${host}.evil.example`)).status).toBe(403);
    expect((await write('null')).status).toBe(403);
    const signOut = await call('/session', { method: 'DELETE', headers: { cookie, ...CSRF, ...HTTPS } });
    expect(signOut.status).toBe(204);
    expect(signOut.headers.get('set-cookie')).toMatch(/^__Host-aibridge_session=; .*Max-Age=0/);
    expect((await call('/session', { headers: { cookie, ...HTTPS } })).status).toBe(401);
  });

  it('a plain aibridge_session cookie (one a sibling subdomain can plant) is not a session over HTTPS', async () => {
    const planted = (await signIn()).cookie; // the attacker's own session, under the plain name
    expect(planted).toMatch(/^aibridge_session=/);
    expect((await call('/session', { headers: { cookie: planted } })).status).toBe(200); // plain HTTP: as before
    expect((await call('/session', { headers: { cookie: planted, ...HTTPS } })).status).toBe(401);
  });
});

describe('a mangled session cookie', () => {
  it('is a 401 like any invalid session, not a 500', async () => {
    for (const cookie of ['aibridge_session=%E0%A4%A', 'aibridge_session=%', 'aibridge_session=']) {
      const res = await call('/session', { headers: { cookie } });
      expect(res.status, cookie).toBe(401);
    }
    expect(bridge.logs.text).not.toMatch(/API request failed/);
  });
});

describe('API answers', () => {
  it('are never stored by a browser or proxy cache: tokens, sessions and audit data say no-store', async () => {
    const auth = { authorization: `Bearer ${mia.token}` };
    const answers = [
      await call('/users/me/tokens', { method: 'POST', headers: auth, body: { name: 'cached?' } }),
      await call('/users/me/tokens', { headers: auth }),
      await call('/session', { method: 'POST', body: { token: mia.token } }),
      await call('/interceptions', { headers: auth }),
      await call('/users/me', { headers: auth }),
      await call('/users/nobody', { headers: auth }), // an error, too
    ];
    for (const res of answers) {
      expect(res.headers.get('cache-control'), res.url).toBe('no-store');
      expect(res.headers.get('x-content-type-options'), res.url).toBe('nosniff');
    }
  });
});

describe('a q full of mistakes', () => {
  it('is answered with the first problems and a count of the rest, not one validation per term', async () => {
    const q = Array.from({ length: 3_000 }, (_, i) => `nokey${i}:1`).join(' ');
    const res = await call(`/interceptions?q=${encodeURIComponent(q)}`, {
      headers: { authorization: `Bearer ${mia.token}` },
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text.length).toBeLessThan(8 * 1024);
    const body = JSON.parse(text) as { validations: Array<{ field: string; detail: string }> };
    expect(body.validations).toHaveLength(21);
    expect(body.validations[0]?.detail).toMatch(/^unknown key "nokey0"/);
    expect(body.validations.at(-1)).toEqual({ field: 'q', detail: 'and 2980 more problems' });
  });
});

describe('a path segment longer than the router takes', () => {
  it('is refused in the one error shape (API) or the provider’s (provider routes), without echoing the path', async () => {
    const auth = { authorization: `Bearer ${mia.token}` };
    const longish = await call(`/interceptions/${'x'.repeat(300)}`, { headers: auth });
    expect(longish.status).toBe(404); // ids up to 512 characters are looked up like any other
    const tooLong = await call(`/interceptions/${'x'.repeat(600)}`, { headers: auth });
    expect(tooLong.status).toBe(414);
    expect(await tooLong.json()).toEqual({ message: 'a path segment is longer than 512 characters' });
    const provider = await fetch(`${bridge.url}/anthropic/v1/models/${'x'.repeat(600)}`, { headers: auth });
    expect(provider.status).toBe(414);
    expect(await provider.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'a path segment is longer than 512 characters' },
    });
  });
});

describe('sign-in, the one API route that reads a body before knowing the caller', () => {
  it('takes a body only as large as a token needs: a bigger one is a 413, declared or sent', async () => {
    const big = await call('/session', { method: 'POST', body: { token: `aib_${'x'.repeat(200_000)}` } });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ message: 'the request body is larger than 4 KiB' });
    const chunked = await fetch(`${bridge.url}${API}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`{"token":"${'x'.repeat(64 * 1024)}`));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await call('/session', { method: 'POST', body: { token: mia.token } })).status).toBe(200);
  });
});
