import { randomBytes } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CREDENTIALS_KEY_ENV } from '../../src/mcp/credentials.ts';
import { type Api, apiClient } from '../helpers/api.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/** The users, tokens, MCP credentials, spend and console session API (README, "Users and tokens"), over HTTP on a real server. */

const ask = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Say hello' }] };

let store: TestStore;
let upstream: ReplayUpstream;
let mcp: TestMcpServer;
let bridge: TestBridge;
let api: Api;
let owner: string;
let auditor: string;
let mia: { id: string; token: string; apiKeyId: string };
let max: { id: string; token: string; apiKeyId: string };

beforeAll(async () => {
  vi.stubEnv(CREDENTIALS_KEY_ENV, randomBytes(32).toString('base64'));
  store = testEmbeddedStore();
  upstream = await ReplayUpstream.start();
  upstream.setDefault('anthropic-messages/text.json');
  mcp = await startTestMcpServer({ extraTools: 0 });
  bridge = await startTestBridge(store, {
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
    mcp_servers: [
      { name: 'personal', url: mcp.url, per_user_credentials: true },
      { name: 'shared', url: mcp.url },
    ],
  });
  api = await apiClient(bridge.url);
  owner = (await bridge.user('olga', 'owner')).token;
  auditor = (await bridge.user('audrey', 'auditor')).token;
  mia = await bridge.user('mia');
  max = await bridge.user('max');
});
afterAll(async () => {
  await bridge.close();
  await mcp.stop();
  await upstream.close();
  await store.close();
  vi.unstubAllEnvs();
});

const anthropic = (token: string, prefix = '') =>
  new Anthropic({ baseURL: `${bridge.url}${prefix}/anthropic`, apiKey: token, maxRetries: 0 });

/** A provider route answers this token: true, or a 401 in Anthropic's format: false. */
async function accepted(token: string): Promise<boolean> {
  const answer = await anthropic(token)
    .messages.create(ask)
    .catch((e) => e);
  if (answer instanceof Anthropic.AuthenticationError) {
    expect(answer.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    return false;
  }
  if (answer instanceof Error) throw answer;
  return true;
}

const usernames = (body: { results: Array<{ username: string }> }) => body.results.map((u) => u.username);

describe('users', () => {
  it('are listed to owners and auditors, never to members', async () => {
    const listed = await api('GET', '/users', { token: owner, schema: 'UserList' });
    expect(listed.status).toBe(200);
    expect(listed.body.count).toBe(listed.body.results.length);
    expect(usernames(listed.body)).toEqual(expect.arrayContaining(['admin', 'olga', 'audrey', 'mia', 'max']));
    expect(listed.body.results.find((u: { username: string }) => u.username === 'audrey')).toMatchObject({
      role: 'auditor',
      disabled: false,
      deleted: false,
      budget: null,
      denied_servers: [],
    });
    expect((await api('GET', '/users', { token: auditor, schema: 'UserList' })).status).toBe(200);
    const member = await api('GET', '/users', { token: mia.token });
    expect(member.status).toBe(403);
    expect((await api('GET', '/users')).status).toBe(401);
  });

  it('are created by owners only; the first token works at once on a provider route', async () => {
    const created = await api('POST', '/users', {
      token: owner,
      body: { username: 'nina', name: 'Nina N.' },
      schema: 'NewUser',
    });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ username: 'nina', name: 'Nina N.', role: 'member' });
    expect(created.body.token).toMatch(/^aib_/);
    expect(await accepted(created.body.token)).toBe(true);
    const me = await api('GET', '/users/me', { token: created.body.token, schema: 'User' });
    expect(me.body).toEqual(created.body.user);

    const auditorMade = await api('POST', '/users', { token: owner, body: { username: 'ada', role: 'auditor' } });
    expect(auditorMade.body.user.role).toBe('auditor');
    expect((await api('POST', '/users', { token: mia.token, body: { username: 'sneaky' } })).status).toBe(403);
    expect((await api('POST', '/users', { token: auditor, body: { username: 'sneaky' } })).status).toBe(403);
    const taken = await api('POST', '/users', { token: owner, body: { username: 'nina' } });
    expect(taken.status).toBe(409);
    expect(taken.body.message).toBe('user "nina" already exists');
  });

  it('refuse bad input with 400 and a validation per field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ username: 'no spaces' }, 'username'],
      [{ username: 'me' }, 'username'],
      [{ username: 'x'.repeat(65) }, 'username'],
      [{ username: 'ok', role: 'boss' }, 'role'],
      [{ username: 'ok', name: '' }, 'name'],
      [{ username: 'ok', admin: true }, 'admin'],
      [{}, 'username'],
      [[], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await api('POST', '/users', { token: owner, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toBe('invalid request body');
      expect(res.body.validations.map((v: { field: string }) => v.field)).toContain(field);
    }
    expect((await api('GET', '/users', { token: owner })).body.results.map((u: any) => u.username)).not.toContain('ok');
  });

  it('show themselves to everyone as /users/me; others only to owners and auditors', async () => {
    for (const [token, username] of [
      [owner, 'olga'],
      [auditor, 'audrey'],
      [mia.token, 'mia'],
    ] as const) {
      const me = await api('GET', '/users/me', { token, schema: 'User' });
      expect(me.status).toBe(200);
      expect(me.body.username).toBe(username);
    }
    expect((await api('GET', `/users/${mia.id}`, { token: mia.token, schema: 'User' })).body.username).toBe('mia');
    expect((await api('GET', '/users/mia', { token: auditor, schema: 'User' })).status).toBe(200);
    expect((await api('GET', '/users/mia', { token: max.token })).status).toBe(403);
    expect((await api('GET', '/users/nobody', { token: max.token })).status).toBe(403); // no probing for names
    expect((await api('GET', '/users/nobody', { token: owner })).status).toBe(404);
  });

  it('are changed by owners: name, role, disabled, budget, denied MCP servers', async () => {
    const paul = await bridge.user('paul');
    const patch = (body: unknown, token = owner) => api('PATCH', '/users/paul', { token, body, schema: 'User' });
    expect((await patch({ name: 'Paul P.', role: 'auditor' })).body).toMatchObject({
      name: 'Paul P.',
      role: 'auditor',
    });
    expect((await api('GET', '/users', { token: paul.token })).status).toBe(200); // an auditor now
    expect((await patch({ role: 'member' })).body.role).toBe('member');
    expect((await api('GET', '/users', { token: paul.token })).status).toBe(403); // at once, on this replica

    const budget = { usd: 12.5, period: 'week' };
    expect((await patch({ budget })).body.budget).toEqual(budget);
    const spend = await api('GET', '/users/paul/spend', { token: paul.token, schema: 'Spend' });
    expect(spend.body).toMatchObject({ budget, spent_usd: 0 });
    expect((await patch({ budget: null })).body.budget).toBeNull();
    expect((await patch({ denied_servers: ['shared', 'personal', 'shared'] })).body.denied_servers).toEqual([
      'personal',
      'shared',
    ]);

    expect((await patch({ disabled: true })).body.disabled).toBe(true);
    expect(await accepted(paul.token)).toBe(false);
    expect((await api('GET', '/users/me', { token: paul.token })).status).toBe(401);
    expect((await patch({ disabled: false })).body.disabled).toBe(false);
    expect(await accepted(paul.token)).toBe(true);

    const stored = await api('GET', '/users/paul', { token: owner, schema: 'User' });
    expect(stored.body).toMatchObject({ name: 'Paul P.', role: 'member', disabled: false, budget: null });
    expect(stored.body.denied_servers).toEqual(['personal', 'shared']);

    expect((await patch({ name: 'Me' }, paul.token)).status).toBe(403); // not even themselves
    expect((await patch({ role: 'owner' }, auditor)).status).toBe(403);
    expect((await patch({ name: 'x' }, max.token)).status).toBe(403);
    expect((await api('PATCH', '/users/ghost', { token: owner, body: { name: 'x' } })).status).toBe(404);
  });

  it('refuse bad changes with 400 and a validation per field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ role: 'boss' }, 'role'],
      [{ disabled: 'yes' }, 'disabled'],
      [{ budget: { usd: -1, period: 'month' } }, 'budget.usd'],
      [{ budget: { usd: 5, period: 'year' } }, 'budget.period'],
      [{ denied_servers: 'shared' }, 'denied_servers'],
      [{ name: '' }, 'name'],
      [{ username: 'renamed' }, 'username'],
      [{}, 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await api('PATCH', '/users/max', { token: owner, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.validations.map((v: { field: string }) => v.field)).toContain(field);
    }
  });

  it('keep one enabled owner: disabling, demoting or deleting the last one is a 409', async () => {
    const olive = await bridge.user('olive', 'owner');
    const ownersBefore = (await api('GET', '/users', { token: owner })).body.results.filter(
      (u: { role: string; disabled: boolean }) => u.role === 'owner' && !u.disabled,
    );
    // Disable every other owner, so olive is the last enabled one.
    const others = ownersBefore.filter((u: { username: string }) => u.username !== 'olive');
    for (const u of others) {
      expect(
        (await api('PATCH', `/users/${u.username}`, { token: olive.token, body: { disabled: true } })).status,
      ).toBe(200);
    }
    try {
      for (const body of [{ disabled: true }, { role: 'member' }, { role: 'auditor' }]) {
        const res = await api('PATCH', '/users/me', { token: olive.token, body });
        expect(res.status, JSON.stringify(body)).toBe(409);
        expect(res.body.message).toBe('refused: this would leave no enabled owner');
      }
      expect((await api('DELETE', '/users/olive', { token: olive.token })).status).toBe(409);
      // Harmless changes to the last owner still go through.
      expect((await api('PATCH', '/users/me', { token: olive.token, body: { name: 'Olive O.' } })).status).toBe(200);
    } finally {
      for (const u of others) {
        const res = await api('PATCH', `/users/${u.username}`, { token: olive.token, body: { disabled: false } });
        expect(res.status).toBe(200);
      }
    }
    // With another owner enabled again, olive may step down.
    expect((await api('PATCH', '/users/olive', { token: owner, body: { role: 'member' } })).status).toBe(200);
  });

  it('are deleted by owners: their tokens are refused, their records stay visible with their username', async () => {
    const dora = await bridge.user('dora');
    const laptop = await api('POST', '/users/me/tokens', { token: dora.token, body: { name: 'laptop' } });
    expect(await accepted(dora.token)).toBe(true);
    await bridge.ctx.recorder.flush();

    expect((await api('DELETE', '/users/dora', { token: mia.token })).status).toBe(403);
    expect((await api('DELETE', '/users/dora', { token: auditor })).status).toBe(403);
    expect((await api('DELETE', '/users/dora', { token: owner })).status).toBe(204);
    expect(await accepted(dora.token)).toBe(false);
    expect(await accepted(laptop.body.token)).toBe(false);
    expect((await api('GET', '/users/dora', { token: owner })).status).toBe(404);
    expect((await api('DELETE', '/users/dora', { token: owner })).status).toBe(404);
    expect(usernames((await api('GET', '/users', { token: owner })).body)).not.toContain('dora');
    // Listed on request, marked; and marked where their spend is summed (the console's top users).
    const all = await api('GET', '/users?include_deleted=true', { token: auditor, schema: 'UserList' });
    expect(all.body.count).toBe(all.body.results.length);
    expect(all.body.results.find((u: { username: string }) => u.username === 'dora')).toMatchObject({ deleted: true });
    expect((await api('GET', '/users?include_deleted=yes', { token: owner })).status).toBe(400);
    const usage = await api('GET', '/usage?group_by=initiator', { token: auditor, schema: 'Usage' });
    const doras = usage.body.groups.find((g: any) => g.key.initiator.id === dora.id);
    expect(doras.key.initiator).toEqual({ id: dora.id, username: 'dora', name: 'dora', deleted: true });
    for (const g of usage.body.groups) expect(g.key.initiator.deleted).toBe(g.key.initiator.id === dora.id);

    const records = await api('GET', '/interceptions?q=initiator:dora', { token: auditor, schema: 'InterceptionList' });
    expect(records.body.count).toBe(1);
    expect(records.body.results[0]).toMatchObject({ initiator: { id: dora.id, username: 'dora' } });
    expect(records.body.results[0].api_key_id).toBe(dora.apiKeyId);

    const again = await api('POST', '/users', { token: owner, body: { username: 'dora' } });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(
      /^user "dora" was deleted on \d{4}-\d\d-\d\d; usernames of deleted users stay reserved/,
    );
  });
});

describe('tokens', () => {
  it('are issued to members for themselves, with an expiry as a duration or an RFC 3339 time', async () => {
    const before = Date.now();
    const month = await api('POST', '/users/me/tokens', {
      token: mia.token,
      body: { name: 'laptop', expires: '30d' },
      schema: 'NewToken',
    });
    expect(month.status).toBe(201);
    expect(month.body).toMatchObject({ name: 'laptop', token: expect.stringMatching(/^aib_/) });
    const expires = Date.parse(month.body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
    expect(await accepted(month.body.token)).toBe(true);

    const at = new Date(Date.now() + 3_600_000);
    at.setMilliseconds(0);
    const exact = await api('POST', '/users/mia/tokens', {
      token: mia.token,
      body: { name: 'ci', expires: at.toISOString().replace('.000Z', '+00:00') },
      schema: 'NewToken',
    });
    expect(exact.body.expires_at).toBe(at.toISOString());

    const forever = await api('POST', '/users/me/tokens', { token: mia.token, schema: 'NewToken' });
    expect(forever.status).toBe(201); // no body at all: every field is optional
    expect(forever.body).toMatchObject({ name: '', expires_at: null });

    for (const expires of ['2001-01-01T00:00:00Z', 'soon', '-5d', '0s', '300000000d']) {
      const bad = await api('POST', '/users/me/tokens', { token: mia.token, body: { expires } });
      expect(bad.status, expires).toBe(400);
      expect(bad.body.validations).toEqual([
        { field: 'expires', detail: 'use a duration like 30d or a future RFC 3339 time' },
      ]);
    }
    expect((await api('POST', '/users/me/tokens', { token: mia.token, body: { name: 'x'.repeat(101) } })).status).toBe(
      400,
    );
  });

  it('are listed without their secrets, with when each was last used', async () => {
    const issued = await api('POST', '/users/me/tokens', { token: mia.token, body: { name: 'listed' } });
    expect(await accepted(issued.body.token)).toBe(true);
    await bridge.ctx.authenticator.flushLastUsed(); // what the 60 s batch does

    const listed = await api('GET', '/users/me/tokens', { token: mia.token, schema: 'TokenList' });
    expect(listed.status).toBe(200);
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(issued.body.token);
    expect(text).not.toContain(mia.token);
    expect(text).not.toMatch(/aib_|"hash"|"token"/);
    const mine = listed.body.results.find((t: { id: string }) => t.id === issued.body.id);
    expect(mine).toMatchObject({ name: 'listed', kind: 'api', current: false, expires_at: null, revoked_at: null });
    expect(Date.parse(mine.last_used_at)).toBeGreaterThan(Date.parse(mine.created_at) - 1);
  });

  it('are revoked by their user; the token gets 401 on provider routes at once on this replica', async () => {
    const issued = await api('POST', '/users/me/tokens', { token: mia.token, body: { name: 'doomed' } });
    expect(await accepted(issued.body.token)).toBe(true);
    expect((await api('DELETE', `/users/me/tokens/${issued.body.id}`, { token: mia.token })).status).toBe(204);
    expect(await accepted(issued.body.token)).toBe(false);
    expect((await api('GET', '/users/me', { token: issued.body.token })).status).toBe(401);
    const listed = await api('GET', '/users/me/tokens', { token: mia.token, schema: 'TokenList' });
    const revoked = listed.body.results.find((t: { id: string }) => t.id === issued.body.id);
    expect(revoked.revoked_at).not.toBeNull();
    expect((await api('DELETE', '/users/me/tokens/no-such-id', { token: mia.token })).status).toBe(404);
  });

  it("are not another member's to see, issue or revoke", async () => {
    const maxs = await api('POST', '/users/me/tokens', { token: max.token, body: { name: 'max-laptop' } });
    expect((await api('GET', '/users/max/tokens', { token: mia.token })).status).toBe(403);
    expect((await api('POST', '/users/max/tokens', { token: mia.token, body: {} })).status).toBe(403);
    expect((await api('DELETE', `/users/max/tokens/${maxs.body.id}`, { token: mia.token })).status).toBe(403);
    // Someone else's token id through one's own path: not found, as if it did not exist.
    const own = await api('DELETE', `/users/me/tokens/${maxs.body.id}`, { token: mia.token });
    expect(own.status).toBe(404);
    expect(own.body.message).toBe(`no token "${maxs.body.id}"`);
    // Auditors read users, not their tokens.
    expect((await api('GET', '/users/max/tokens', { token: auditor })).status).toBe(403);
    expect(await accepted(maxs.body.token)).toBe(true);

    // Owners manage everyone's.
    const listed = await api('GET', '/users/max/tokens', { token: owner, schema: 'TokenList' });
    expect(listed.body.results.map((t: { id: string }) => t.id)).toContain(maxs.body.id);
    const forMax = await api('POST', '/users/max/tokens', { token: owner, body: { name: 'by-owner' } });
    expect(forMax.status).toBe(201);
    expect((await api('GET', '/users/me', { token: forMax.body.token, schema: 'User' })).body.username).toBe('max');
    expect((await api('DELETE', `/users/max/tokens/${maxs.body.id}`, { token: owner })).status).toBe(204);
    expect(await accepted(maxs.body.token)).toBe(false);
  });

  it('stop working the moment they expire', async () => {
    const soon = new Date(Date.now() + 1_500);
    const issued = await api('POST', '/users/me/tokens', {
      token: mia.token,
      body: { expires: soon.toISOString() },
      schema: 'NewToken',
    });
    expect(await accepted(issued.body.token)).toBe(true); // and now cached
    await new Promise((r) => setTimeout(r, Math.max(0, soon.getTime() - Date.now()) + 50));
    expect(await accepted(issued.body.token)).toBe(false);
  });
});

describe('MCP credentials', () => {
  const secret = 'Bearer mia-personal-secret';

  it('are stored for per-user servers, listed by header name only, and deleted', async () => {
    const path = '/users/me/mcp-credentials';
    const put = await api('PUT', `${path}/personal`, {
      token: mia.token,
      body: { headers: { Authorization: secret, 'X-Team': 'core' } },
    });
    expect(put.status).toBe(204);
    const listed = await api('GET', path, { token: mia.token, schema: 'CredentialList' });
    expect(listed.body.results).toEqual([
      expect.objectContaining({ server: 'personal', headers: ['Authorization', 'X-Team'] }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain('mia-personal-secret');
    expect((await api('GET', '/users/mia/mcp-credentials', { token: owner })).body).toEqual(listed.body);

    expect((await api('DELETE', `${path}/personal`, { token: mia.token })).status).toBe(204);
    expect((await api('DELETE', `${path}/personal`, { token: mia.token })).status).toBe(404);
    expect((await api('GET', path, { token: mia.token, schema: 'CredentialList' })).body.results).toEqual([]);
  });

  it('refuse servers without per-user credentials, unknown servers, bad headers and other members', async () => {
    const put = (server: string, headers: unknown, token = mia.token, user = 'me') =>
      api('PUT', `/users/${user}/mcp-credentials/${server}`, { token, body: { headers } });
    const shared = await put('shared', { Authorization: secret });
    expect(shared.status).toBe(400);
    expect(shared.body.validations).toEqual([
      { field: 'server', detail: '"shared" does not take per-user credentials' },
    ]);
    expect((await put('nowhere', { Authorization: secret })).status).toBe(404);
    expect((await put('personal', { 'Bad Name': 'x' })).body.validations[0].field).toBe('headers.Bad Name');
    expect((await put('personal', {})).status).toBe(400);
    expect((await put('personal', { Authorization: secret }, mia.token, 'max')).status).toBe(403);
    expect((await api('GET', '/users/max/mcp-credentials', { token: mia.token })).status).toBe(403);
    expect((await api('GET', '/users/max/mcp-credentials', { token: auditor })).status).toBe(403);
    // An owner may set a member's.
    expect((await put('personal', { Authorization: secret }, owner, 'max')).status).toBe(204);
    expect((await api('DELETE', '/users/max/mcp-credentials/personal', { token: owner })).status).toBe(204);
  });
});

describe('MCP credentials without an encryption key', () => {
  it('answer 503 saying per-user credentials are not enabled, and store nothing', async () => {
    const key = process.env[CREDENTIALS_KEY_ENV];
    vi.stubEnv(CREDENTIALS_KEY_ENV, '');
    try {
      const put = await api('PUT', '/users/me/mcp-credentials/personal', {
        token: mia.token,
        body: { headers: { Authorization: 'Bearer x' } },
      });
      expect(put.status).toBe(503);
      expect(put.body.message).toBe('per-user MCP credentials are not enabled on this bridge');
      expect(put.body.detail).toContain(CREDENTIALS_KEY_ENV);
    } finally {
      vi.stubEnv(CREDENTIALS_KEY_ENV, key as string);
    }
    const listed = await api('GET', '/users/me/mcp-credentials', { token: mia.token, schema: 'CredentialList' });
    expect(listed.body.results).toEqual([]);
  });
});

describe('spend', () => {
  it('is shown to the user, owners and auditors, against the budget that applies', async () => {
    expect(await accepted(max.token)).toBe(true);
    await bridge.ctx.recorder.flush();
    const mine = await api('GET', '/users/me/spend', { token: max.token, schema: 'Spend' });
    expect(mine.status).toBe(200);
    expect(mine.body.budget).toBeNull();
    expect(mine.body.spent_usd).toBeGreaterThanOrEqual(0);
    expect(Date.parse(mine.body.resets_at)).toBeGreaterThan(Date.parse(mine.body.period_start));
    expect((await api('GET', '/users/max/spend', { token: auditor, schema: 'Spend' })).body).toEqual(mine.body);
    expect((await api('GET', '/users/max/spend', { token: mia.token })).status).toBe(403);

    await api('PATCH', '/users/max', { token: owner, body: { budget: { usd: 3, period: 'day' } } });
    const day = await api('GET', '/users/max/spend', { token: owner, schema: 'Spend' });
    expect(day.body.budget).toEqual({ usd: 3, period: 'day' });
    expect(Date.parse(day.body.resets_at) - Date.parse(day.body.period_start)).toBe(86_400_000);
    await api('PATCH', '/users/max', { token: owner, body: { budget: null } });
  });
});

describe('console session', () => {
  const CSRF = { 'x-aibridge-csrf': '1' };

  it('signs in with a token into an HttpOnly, SameSite=Strict cookie; writes need the CSRF header; sign-out revokes', async () => {
    const signIn = await api('POST', '/session', { body: { token: mia.token }, schema: 'User' });
    expect(signIn.status).toBe(200);
    expect(signIn.body.username).toBe('mia');
    const setCookie = signIn.headers.get('set-cookie') as string;
    const flags = setCookie.split(';').map((f) => f.trim());
    expect(flags).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']));
    expect(setCookie).not.toContain(mia.token);
    const cookie = { cookie: setCookie.split(';')[0] as string };

    expect((await api('GET', '/session', { headers: cookie, schema: 'User' })).body.username).toBe('mia');
    expect((await api('GET', '/users/me/tokens', { headers: cookie, schema: 'TokenList' })).status).toBe(200);
    const forged = await api('POST', '/users/me/tokens', { headers: cookie, body: { name: 'forged' } });
    expect(forged.status).toBe(403);
    expect(forged.body).toEqual({ message: 'cross-site request refused', detail: 'send the x-aibridge-csrf header' });
    const crossSite = await api('POST', '/users/me/tokens', {
      headers: { ...cookie, ...CSRF, origin: 'https://evil.example' },
      body: { name: 'forged' },
    });
    expect(crossSite.status).toBe(403);
    const made = await api('POST', '/users/me/tokens', {
      headers: { ...cookie, ...CSRF },
      body: { name: 'from the console' },
      schema: 'NewToken',
    });
    expect(made.status).toBe(201);

    expect((await api('DELETE', '/session', { headers: cookie })).status).toBe(403);
    const signOut = await api('DELETE', '/session', { headers: { ...cookie, ...CSRF } });
    expect(signOut.status).toBe(204);
    expect(signOut.headers.get('set-cookie')).toMatch(/^aibridge_session=; .*Max-Age=0/);
    expect((await api('GET', '/session', { headers: cookie })).status).toBe(401);
    expect((await api('GET', '/users/me', { headers: cookie })).status).toBe(401);
    expect(await accepted(mia.token)).toBe(true); // the token signed in with is untouched
  });

  it('ends the console sessions a token opened when the token is revoked (a leaked one leaves no session)', async () => {
    const leaked = await bridge.user('lea');
    const signIn = await api('POST', '/session', { body: { token: leaked.token } });
    expect(signIn.status).toBe(200);
    const cookie = { cookie: (signIn.headers.get('set-cookie') as string).split(';')[0] as string };
    expect((await api('GET', '/session', { headers: cookie })).status).toBe(200);
    const revoked = await api('DELETE', `/users/lea/tokens/${leaked.apiKeyId}`, { token: owner });
    expect(revoked.status).toBe(204);
    expect((await api('GET', '/session', { headers: cookie })).status).toBe(401);
  });

  it('refuses a bad token or a bad body', async () => {
    expect((await api('POST', '/session', { body: { token: 'aib_nope' } })).status).toBe(401);
    expect((await api('POST', '/session', { body: {} })).body.validations[0].field).toBe('token');
    expect((await api('POST', '/session', { body: '{"token":' })).status).toBe(400);
    expect((await api('GET', '/session')).status).toBe(401);
  });
});

describe('the /api/v2/ai-gateway prefix', () => {
  const prefix = '/api/v2/ai-gateway';

  it('answers the same routes in the same shapes', async () => {
    expect((await api('GET', '/users', { token: owner, prefix, schema: 'UserList' })).status).toBe(200);
    expect((await api('GET', '/users', { token: mia.token, prefix })).status).toBe(403);
    const me = await api('GET', '/users/me', { token: mia.token, prefix, schema: 'User' });
    expect(me.body.username).toBe('mia');
    const issued = await api('POST', '/users/me/tokens', {
      token: mia.token,
      prefix,
      body: { name: 'gateway', expires: '1h' },
      schema: 'NewToken',
    });
    expect(issued.status).toBe(201);
    expect((await api('GET', '/users/me/tokens', { token: mia.token, prefix, schema: 'TokenList' })).status).toBe(200);
    expect((await api('DELETE', `/users/me/tokens/${issued.body.id}`, { token: mia.token, prefix })).status).toBe(204);
    const gone = await anthropic(issued.body.token, prefix)
      .messages.create(ask)
      .catch((e) => e);
    expect(gone).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((await api('PATCH', '/users/max', { token: owner, prefix, body: { role: 'x' } })).status).toBe(400);
    expect((await api('GET', '/users/me/spend', { token: mia.token, prefix, schema: 'Spend' })).status).toBe(200);
  });
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with every API path once, under /api/v2/aibridge, and named components', async () => {
    const res = await fetch(`${bridge.url}/api/v2/aibridge/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, any>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    for (const path of [
      '/interceptions',
      '/interceptions/{id}',
      '/usage',
      '/sessions',
      '/users',
      '/users/{user}',
      '/users/{user}/tokens',
      '/users/{user}/tokens/{id}',
      '/users/{user}/mcp-credentials',
      '/users/{user}/mcp-credentials/{server}',
      '/users/{user}/spend',
      '/users/{user}/budget',
      '/session',
    ]) {
      expect(paths).toContain(`/api/v2/aibridge${path}`);
    }
    expect(paths.filter((p) => p.includes('ai-gateway'))).toEqual([]);
    expect(paths.filter((p) => p.includes('openapi.json'))).toEqual([]);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Interception', 'InterceptionList', 'User', 'UserList', 'Token', 'TokenList']),
    );
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['NewToken', 'NewUser', 'Credential', 'CredentialList', 'Spend', 'Budget', 'Error']),
    );
    const users = doc.paths['/api/v2/aibridge/users'] as Record<string, any>;
    expect(users.get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/UserList',
    });
    expect(users.post.responses['403'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(users.post.requestBody.content['application/json'].schema.properties.username.pattern).toBeTruthy();
    // The same document is served under the second prefix.
    const gateway = await (await fetch(`${bridge.url}/api/v2/ai-gateway/openapi.json`)).json();
    expect(gateway).toEqual(doc);
  });
});
