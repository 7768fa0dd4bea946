/**
 * Identity without races or confusions (README "Users and tokens"), over HTTP on the real
 * server, on both stores: the last enabled owner under concurrent requests; usernames unique
 * regardless of case and never shaped like an id or `me`; console sessions listed and ended like
 * tokens, by their user or an owner only; a $0 budget and the way back to the role's default.
 */
import { randomUUID } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isActiveOwner, type UserDoc } from '../../src/store/store.ts';
import { type Api, apiClient } from '../helpers/api.ts';
import { STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

const PRICING = [
  { model: 'claude-test-*', input: 3, output: 15 },
  { model: 'gpt-test-*', input: 1.25, output: 10 },
];
const ROLE_DEFAULT = { usd: 100, period: 'month' };
const ROUNDS = 4;

describe.each(STORE_KINDS)('%s store', (kind) => {
  let h: Harness;
  let api: Api;
  /** An owner's token: a fresh owner for each block after the races (which may leave anyone demoted). */
  let admin: string;

  beforeAll(async () => {
    h = await startHarness(`identity-rules-${kind}`, { pricing: PRICING, budgets: { member: ROLE_DEFAULT } }, kind);
    h.upstream.setDefault((request) =>
      request.path.includes('chat/completions') ? 'openai-chat/text.json' : 'anthropic-messages/text.json',
    );
    api = await apiClient(h.bridge.url);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Read from the store: whoever is left may no longer be allowed to list users. */
  const enabledOwners = async () => (await h.store.identity.users()).filter(isActiveOwner).map((u) => u.username);

  /** Fresh owners, and every other owner demoted by them: the rule has only them to keep. */
  async function onlyOwners(...names: string[]): Promise<Record<string, string>> {
    const tokens: Record<string, string> = {};
    for (const name of names) tokens[name] = (await h.bridge.user(name, 'owner')).token;
    for (const u of await h.store.identity.users()) {
      if (!isActiveOwner(u) || names.includes(u.username)) continue;
      const res = await api('PATCH', `/users/${u.username}`, {
        token: tokens[names[0] as string],
        body: { role: 'member' },
      });
      expect(res.status).toBe(200);
    }
    expect((await enabledOwners()).sort()).toEqual([...names].sort());
    return tokens;
  }

  describe('the last enabled owner', () => {
    it('survives 20 concurrent mutual demotions, round after round', async () => {
      const t = await onlyOwners('ann', 'ben');
      for (let round = 0; round < ROUNDS; round++) {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            i % 2
              ? api('PATCH', '/users/ben', { token: t.ann, body: { role: 'member' } })
              : api('PATCH', '/users/ann', { token: t.ben, body: { role: 'member' } }),
          ),
        );
        const statuses = answers.map((a) => a.status);
        expect(
          statuses.every((s) => s === 200 || s === 409 || s === 403),
          statuses.join(),
        ).toBe(true);
        const left = await enabledOwners();
        expect(left, `round ${round}: ${statuses.join()}`).toHaveLength(1);
        const survivor = left[0] as 'ann' | 'ben';
        const other = survivor === 'ann' ? 'ben' : 'ann';
        // The loser was refused: by the rule (409) when its request was in before it lost its
        // role, else as a member (403).
        for (const answer of answers.filter((a) => a.status === 409)) {
          expect(answer.body.message).toBe('refused: this would leave no enabled owner');
        }
        const back = await api('PATCH', `/users/${other}`, { token: t[survivor], body: { role: 'owner' } });
        expect(back.status).toBe(200);
      }
    });

    it('survives concurrent disables, demotions and deletes of each other', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const [x, y] = [`cat${round}`, `dan${round}`];
        const t = await onlyOwners(x, y);
        const answers = await Promise.all(
          Array.from({ length: 12 }, (_, i) => {
            const [by, target] = i % 2 ? [t[x], y] : [t[y], x];
            if (i % 3 === 0) return api('DELETE', `/users/${target}`, { token: by });
            const body = i % 3 === 1 ? { disabled: true } : { role: 'auditor' };
            return api('PATCH', `/users/${target}`, { token: by, body });
          }),
        );
        const statuses = answers.map((a) => a.status);
        // 401: a token of a user disabled or deleted a moment before.
        expect(
          statuses.every((s) => [200, 204, 401, 403, 404, 409].includes(s)),
          statuses.join(),
        ).toBe(true);
        expect(await enabledOwners(), `round ${round}: ${statuses.join()}`).toHaveLength(1);
      }
    });

    it('survives demotions racing a promotion', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const boss = `eve${round}`;
        const t = await onlyOwners(boss);
        const rising = `fay${round}`;
        const member = (await h.bridge.user(rising)).token;
        const answers = await Promise.all([
          api('PATCH', '/users/me', { token: t[boss], body: { role: 'member' } }),
          api('PATCH', `/users/${rising}`, { token: t[boss], body: { role: 'owner' } }),
          api('PATCH', '/users/me', { token: t[boss], body: { disabled: true } }),
          api('PATCH', `/users/${boss}`, { token: member, body: { role: 'member' } }), // an owner a moment later, maybe
          api('DELETE', `/users/${boss}`, { token: t[boss] }),
        ]);
        const left = await enabledOwners();
        expect(left.length, `round ${round}: ${answers.map((a) => a.status).join()}`).toBeGreaterThanOrEqual(1);
        expect(left.every((name) => name === boss || name === rising)).toBe(true);
      }
    });
  });

  describe('usernames', () => {
    beforeAll(async () => {
      admin = (await h.bridge.user('root', 'owner')).token;
    });

    it('are never shaped like an id or `me`, in any case (400, naming the field)', async () => {
      for (const username of [randomUUID(), randomUUID().toUpperCase(), 'me', 'ME', 'Me']) {
        const res = await api('POST', '/users', { token: admin, body: { username } });
        expect(res.status, username).toBe(400);
        expect(res.body.validations).toEqual([{ field: 'username', detail: expect.stringContaining(username) }]);
      }
      const shaped = await api('POST', '/users', { token: admin, body: { username: randomUUID() } });
      expect(shaped.body.validations[0].detail).toMatch(/shaped like a user id/);
    });

    it('are unique regardless of case (409 naming the holder); a name in another case finds its user', async () => {
      const made = await api('POST', '/users', { token: admin, body: { username: 'gina' }, schema: 'NewUser' });
      expect(made.status).toBe(201);
      for (const username of ['Gina', 'GINA']) {
        const taken = await api('POST', '/users', { token: admin, body: { username } });
        expect(taken.status).toBe(409);
        expect(taken.body.message).toBe('user "gina" already exists (usernames are unique regardless of case)');
      }
      expect((await api('GET', '/users/GINA', { token: admin, schema: 'User' })).body.id).toBe(made.body.user.id);
      // A member names themselves in any case, and nobody else whatever the case.
      const gina = made.body.token as string;
      expect((await api('GET', '/users/Gina', { token: gina, schema: 'User' })).body.username).toBe('gina');
      expect((await api('GET', '/users/DEV', { token: gina })).status).toBe(403);
    });

    it('never name two users: an id names its user, old names that clash keep working exactly', async () => {
      // Users from before the rules (put in as migrate would): one named with another user's id,
      // and two whose names differ only in case.
      const victim = await api('POST', '/users', { token: admin, body: { username: 'hal' }, schema: 'NewUser' });
      const victimId = victim.body.user.id as string;
      const old = (username: string): UserDoc => ({
        _id: randomUUID(),
        username,
        name: `old ${username}`,
        role: 'member',
        created_at: new Date(),
        disabled_at: null,
        deleted_at: null,
        budget: null,
        denied_servers: [],
      });
      const impostor = old(victimId);
      const [upper, lower] = [old('Ivy'), old('ivy')];
      expect(await h.store.documents.insertNew('users', [impostor, upper, lower])).toBe(3);

      // The victim's id names the victim: a change through it reaches only them.
      expect((await api('GET', `/users/${victimId}`, { token: admin, schema: 'User' })).body.username).toBe('hal');
      await api('PATCH', `/users/${victimId}`, { token: admin, body: { name: 'Hal H.' } });
      expect((await h.store.identity.userById(victimId))?.name).toBe('Hal H.');
      expect((await h.store.identity.userById(impostor._id))?.name).toBe(`old ${victimId}`);
      expect((await api('GET', `/users/${impostor._id}`, { token: admin, schema: 'User' })).body.username).toBe(
        victimId,
      );

      // initiator: an id finds that user's interceptions, never the impostor's.
      await new Anthropic({
        baseURL: `${h.bridge.url}/anthropic`,
        apiKey: victim.body.token,
        maxRetries: 0,
      }).messages.create({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
      await h.bridge.ctx.recorder.flush();
      const byId = await api('GET', `/interceptions?q=${encodeURIComponent(`initiator:${victimId}`)}`, {
        token: admin,
        schema: 'InterceptionList',
      });
      expect(byId.body.count).toBe(1);
      expect(byId.body.results[0].initiator).toMatchObject({ id: victimId, username: 'hal' });

      // Names that clash in case: each exact name finds its own; another case finds neither.
      expect((await api('GET', '/users/Ivy', { token: admin, schema: 'User' })).body.id).toBe(upper._id);
      expect((await api('GET', '/users/ivy', { token: admin, schema: 'User' })).body.id).toBe(lower._id);
      expect((await api('GET', '/users/IVY', { token: admin })).status).toBe(404);
      expect((await api('POST', '/users', { token: admin, body: { username: 'IVY' } })).status).toBe(409);
    });
  });

  describe('console sessions', () => {
    let jo: { id: string; token: string; apiKeyId: string };
    let kim: { id: string; token: string };
    beforeAll(async () => {
      admin = (await h.bridge.user('root', 'owner')).token;
      jo = await h.bridge.user('jo');
      kim = await h.bridge.user('kim');
    });

    async function signIn(token: string): Promise<Record<string, string>> {
      const res = await api('POST', '/session', { body: { token }, schema: 'User' });
      expect(res.status).toBe(200);
      return { cookie: (res.headers.get('set-cookie') as string).split(';')[0] as string };
    }
    const alive = async (cookie: Record<string, string>) => (await api('GET', '/session', { headers: cookie })).status;

    it('are listed with their user’s tokens, marked as this request’s own, and ended there (the cookie then gets 401)', async () => {
      const cookie = await signIn(jo.token);
      const asCookie = await api('GET', '/users/me/tokens', { headers: cookie, schema: 'TokenList' });
      const session = asCookie.body.results.find((t: { kind: string }) => t.kind === 'console');
      expect(session).toMatchObject({ name: 'web console', current: true, revoked_at: null });
      expect(Date.parse(session.expires_at)).toBeGreaterThan(Date.now());
      const asToken = await api('GET', '/users/me/tokens', { token: jo.token, schema: 'TokenList' });
      expect(asToken.body.results.find((t: { id: string }) => t.id === session.id).current).toBe(false);
      expect(asToken.body.results.find((t: { id: string }) => t.id === jo.apiKeyId)).toMatchObject({
        kind: 'api',
        current: true,
      });

      // Someone else's session through one's own path: not found, and it stays.
      expect((await api('DELETE', `/users/me/tokens/${session.id}`, { token: kim.token })).status).toBe(404);
      expect(await alive(cookie)).toBe(200);
      expect((await api('DELETE', `/users/me/tokens/${session.id}`, { token: jo.token })).status).toBe(204);
      expect(await alive(cookie)).toBe(401);
      // An ended session is no longer listed; API tokens stay, revoked or not.
      const after = await api('GET', '/users/me/tokens', { token: jo.token, schema: 'TokenList' });
      expect(after.body.results.map((t: { id: string }) => t.id)).not.toContain(session.id);
    });

    it('are ended by sign-out only for their own user (or by an owner): another user’s cookie gets 403 and stays valid', async () => {
      const cookie = await signIn(jo.token);
      const stolen = await api('DELETE', '/session', { token: kim.token, headers: cookie });
      expect(stolen.status).toBe(403);
      expect(stolen.body.message).toBe('you can only sign out of your own console session');
      expect(await alive(cookie)).toBe(200);

      // Its own user signs out with it.
      expect((await api('DELETE', '/session', { token: jo.token, headers: cookie })).status).toBe(204);
      expect(await alive(cookie)).toBe(401);

      // An owner ends anyone's: through sign-out with the cookie, or through the user's tokens.
      const second = await signIn(jo.token);
      expect((await api('DELETE', '/session', { token: admin, headers: second })).status).toBe(204);
      expect(await alive(second)).toBe(401);
      const third = await signIn(jo.token);
      const listed = await api('GET', '/users/jo/tokens', { token: admin, schema: 'TokenList' });
      const live = listed.body.results.filter((t: { kind: string }) => t.kind === 'console');
      expect(live).toHaveLength(1);
      expect((await api('DELETE', `/users/jo/tokens/${live[0].id}`, { token: admin })).status).toBe(204);
      expect(await alive(third)).toBe(401);
    });
  });

  describe('budgets', () => {
    const ask = (token: string) => ({
      anthropic: () =>
        new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: token, maxRetries: 0 }).messages
          .create({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
          .catch((e) => e),
      openai: () =>
        new OpenAI({ baseURL: `${h.bridge.url}/openai/v1`, apiKey: token, maxRetries: 0 }).chat.completions
          .create({ model: 'gpt-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
          .catch((e) => e),
    });

    it('of $0 refuse every priced call with 429; removing it returns the user to the role default', async () => {
      const lee = await h.bridge.user('lee');
      const set = await api('PATCH', '/users/lee', { token: admin, body: { budget: { usd: 0, period: 'day' } } });
      expect(set.body.budget).toEqual({ usd: 0, period: 'day' });
      const before = h.upstream.requests.length;
      for (let i = 0; i < 3; i++) {
        const refused = await ask(lee.token).anthropic();
        expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
        expect(refused.message).toMatch(/budget of \$0\.00\/day reached for lee/);
        expect(await ask(lee.token).openai()).toBeInstanceOf(OpenAI.RateLimitError);
      }
      expect(h.upstream.requests.length).toBe(before); // nothing reached the upstream
      expect((await api('GET', '/users/lee/spend', { token: lee.token, schema: 'Spend' })).body.budget).toEqual({
        usd: 0,
        period: 'day',
      });

      expect((await api('DELETE', '/users/lee/budget', { token: lee.token })).status).toBe(403); // owners only
      expect((await api('DELETE', '/users/lee/budget', { token: admin })).status).toBe(204);
      expect((await api('GET', '/users/lee', { token: admin, schema: 'User' })).body.budget).toBeNull();
      expect((await api('GET', '/users/lee/spend', { token: lee.token, schema: 'Spend' })).body.budget).toEqual(
        ROLE_DEFAULT,
      );
      expect(await ask(lee.token).anthropic()).not.toBeInstanceOf(Error);
      expect(await ask(lee.token).openai()).not.toBeInstanceOf(Error);
      expect((await api('DELETE', '/users/nobody/budget', { token: admin })).status).toBe(404);
    });
  });
});
