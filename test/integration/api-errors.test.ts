import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, apiClient } from '../helpers/api.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';

/**
 * README "API": every non-provider route (API, /healthz, /readyz, /metrics, the console, unknown
 * paths) answers errors as `{message, detail?, validations?}`, never with internal addresses
 * or stack text. The API client checks each error body against the OpenAPI `Error` schema.
 */

let store: TestStore;
let bridge: TestBridge;
let api: Api;
let owner: string;

beforeAll(async () => {
  store = testEmbeddedStore();
  bridge = await startTestBridge(store);
  api = await apiClient(bridge.url);
  owner = (await bridge.user('olga', 'owner')).token;
});
afterAll(async () => {
  await bridge.close();
  await store.close();
});

/**
 * Sends headers announcing a body of `declared` bytes but only its first bytes, and waits for
 * the answer: one that comes proves the rest of the body was never waited for.
 */
function answerWithoutBody(path: string, headers: Record<string, string>, declared: number) {
  const url = new URL(bridge.url);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path,
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(declared) },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.write('{"username":"');
  });
}

describe('errors on non-provider routes', () => {
  it('unknown paths and wrong methods: 404 naming the method and path, on both prefixes and elsewhere', async () => {
    for (const [method, path] of [
      ['GET', '/api/v2/aibridge/nope'],
      ['GET', '/api/v2/ai-gateway/users/me/nothing'],
      ['PUT', '/api/v2/aibridge/users'],
      ['POST', '/api/v2/aibridge/users/me'],
      ['POST', '/healthz'],
      ['DELETE', '/metrics'],
      ['GET', '/nowhere'],
    ] as const) {
      const res = await api(method, path, { token: owner, prefix: '' });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body).toEqual({ message: `no route for ${method} ${path}` });
    }
    // Without a token too: a path that does not exist is not a question of who asks.
    expect((await api('GET', '/api/v2/aibridge/nope', { prefix: '' })).status).toBe(404);
    const console = await api('GET', '/console/0000/app.js', { prefix: '' });
    expect(console.status).toBe(404);
    expect(console.body).toEqual({ message: 'no console file /console/0000/app.js' });
  });

  it('bad bodies: invalid JSON, not JSON, nested too deep → 400 or 415', async () => {
    const notJson = await api('POST', '/users', { token: owner, body: '{"username": ' });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toEqual({ message: 'the body is not valid JSON' });
    const text = await api('POST', '/users', {
      token: owner,
      body: 'username=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.status).toBe(415);
    expect(text.body).toEqual({ message: 'send the request body as application/json' });
    const deep = await api('PATCH', '/users/me', { token: owner, body: `${'['.repeat(2_000)}${']'.repeat(2_000)}` });
    expect(deep.status).toBe(400);
    expect(deep.body.message).toMatch(/nests deeper than/);
  });

  it('an API body over 1 MiB → 413; a caller without a token gets 401 before any body is read', async () => {
    const big = await api('POST', '/users', { token: owner, body: { username: 'x', name: 'y'.repeat(1024 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ message: 'the request body is larger than 1 MiB' });
    const declared = await answerWithoutBody('/api/v2/aibridge/users', { authorization: `Bearer ${owner}` }, 2 << 20);
    expect(declared).toEqual({ status: 413, body: { message: 'the request body is larger than 1 MiB' } });

    const anonymous = await answerWithoutBody('/api/v2/aibridge/users', {}, 512 * 1024);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.message).toBe('missing session token');
    const unknown = await answerWithoutBody('/api/v2/ai-gateway/users/me/tokens', { 'x-api-key': 'aib_nope' }, 1000);
    expect(unknown).toEqual({ status: 401, body: { message: 'invalid or expired session token' } });
  });

  it('refusals by the API itself: 401, 403, 404, 409 in the one shape', async () => {
    const member = await bridge.user('mo');
    expect((await api('GET', '/users')).body.detail).toBe(
      'send Authorization: Bearer, Coder-Session-Token or X-Api-Key',
    );
    expect((await api('GET', '/users', { token: member.token })).body).toEqual({
      message: 'only owners and auditors can list users',
    });
    expect((await api('GET', '/users/ghost', { token: owner })).body).toEqual({ message: 'no user "ghost"' });
    expect((await api('POST', '/users', { token: owner, body: { username: 'mo' } })).body).toEqual({
      message: 'user "mo" already exists',
    });
    expect((await api('GET', '/interceptions?limit=0', { token: owner })).body.validations[0].field).toBe('limit');
  });

  it('/readyz says why it is not ready; /healthz and /metrics answer', async () => {
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${bridge.url}/metrics`)).status).toBe(200);
    const ping = bridge.ctx.store.ping;
    bridge.ctx.store.ping = async () => false;
    try {
      const down = await fetch(`${bridge.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({
        message: 'not ready: the store does not answer',
        status: 'unavailable',
        store: 'down',
      });
    } finally {
      bridge.ctx.store.ping = ping;
    }
  });
});
