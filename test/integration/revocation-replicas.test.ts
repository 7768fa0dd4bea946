import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, apiClient } from '../helpers/api.ts';
import { type ChildServer, startChildReplica, startChildServer } from '../helpers/child-server.ts';
import { mongoUri } from '../helpers/db.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/**
 * README "Revocation, expiry and deletion": a revoked, expired or disabled identity gets 401 within 5 s on every
 * replica. Two `aibridge server` processes share one MongoDB; changes go through A's API,
 * B is asked until it refuses.
 */

const tempDir = tempDirs('aibridge-replicas-');
const database = `replicas_${process.pid}`;
const WITHIN = 5_000;

let upstream: ReplayUpstream;
let a: ChildServer;
let b: ChildServer;
let apiA: Api;

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.setDefault('anthropic-passthrough/models.json');
  const config = {
    mongodb: { uri: mongoUri(), database },
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
  };
  a = await startChildServer(tempDir(), config);
  b = await startChildReplica(tempDir(), config);
  apiA = await apiClient(a.url);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  const client = await MongoClient.connect(mongoUri());
  await client.db(database).dropDatabase();
  await client.close();
});

/** The status replica B answers on a provider route; a refusal must be Anthropic's 401. */
async function onB(token: string): Promise<number> {
  const res = await fetch(`${b.url}/anthropic/v1/models`, {
    headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
  });
  const body = (await res.json()) as { type?: string; error?: { type?: string } };
  if (res.status === 401) expect(body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  return res.status;
}

async function newUser(username: string): Promise<{ token: string }> {
  const res = await apiA('POST', '/users', { token: a.token, body: { username }, schema: 'NewUser' });
  expect(res.status).toBe(201);
  return res.body;
}

const refusedWithin = (token: string) => waitUntil(async () => (await onB(token)) === 401, WITHIN);

describe('two replicas on one MongoDB', () => {
  it('B refuses a token the moment its expiry passes, though it checked it with the store just before', async () => {
    const tess = await newUser('tess');
    const soon = new Date(Date.now() + 1_500);
    const brief = await apiA('POST', '/users/tess/tokens', {
      token: a.token,
      body: { expires: soon.toISOString() },
      schema: 'NewToken',
    });
    expect(await onB(brief.body.token)).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, soon.getTime() - Date.now()) + 50));
    expect(await onB(brief.body.token)).toBe(401);
    expect(await onB(tess.token)).toBe(200);
  });

  it('B refuses, within 5 s, a token revoked, a user disabled or a user deleted through A', async () => {
    const rita = await newUser('rita');
    const sam = await newUser('sam');
    const ursula = await newUser('ursula');
    const spare = await apiA('POST', '/users/rita/tokens', { token: a.token, body: { name: 'spare' } });
    // B has seen (and cached) every one of them.
    for (const token of [rita.token, spare.body.token, sam.token, ursula.token]) expect(await onB(token)).toBe(200);
    const ritaFirst = (await apiA('GET', '/users/rita/tokens', { token: a.token })).body.results[0].id;

    // Three changes on A at once, so the three 5 s bounds run side by side.
    const changes = await Promise.all([
      apiA('DELETE', `/users/rita/tokens/${ritaFirst}`, { token: a.token }),
      apiA('PATCH', '/users/sam', { token: a.token, body: { disabled: true }, schema: 'User' }),
      apiA('DELETE', '/users/ursula', { token: a.token }),
    ]);
    expect(changes.map((c) => c.status)).toEqual([204, 200, 204]);
    await Promise.all([refusedWithin(rita.token), refusedWithin(sam.token), refusedWithin(ursula.token)]);
    expect(await onB(spare.body.token)).toBe(200); // only the revoked token goes

    // Enabled again on A, sam is let in again on B within the same bound.
    await apiA('PATCH', '/users/sam', { token: a.token, body: { disabled: false } });
    await waitUntil(async () => (await onB(sam.token)) === 200, WITHIN);
  });
});
