import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator, tokenFrom } from '../../src/identity/authenticator.ts';
import { hashToken, IdentityError, Users } from '../../src/identity/users.ts';
import type { Store } from '../../src/store/store.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';

let store: TestStore;
let users: Users;

beforeAll(() => {
  store = testEmbeddedStore();
  users = new Users(store);
});
afterAll(() => store.close());

/** The same store, with identity lookups that fail while `down` is set (an outage). */
function flaky(base: Store) {
  const state = { down: false, lookups: 0 };
  const identity = new Proxy(base.identity, {
    get(target, name) {
      const method = target[name as keyof typeof target] as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => {
        state.lookups++;
        return state.down ? Promise.reject(new Error('store unreachable')) : method.apply(target, args);
      };
    },
  });
  return { state, store: { ...base, identity } as Store };
}

describe('users and tokens', () => {
  it('creates, verifies and rejects tokens, storing only a hash', async () => {
    const alice = await users.create('alice', { name: 'Alice A.', role: 'auditor' });
    const { token, apiKeyId } = await users.createToken(alice._id, { name: 'laptop' });
    expect(token).toMatch(/^aib_[A-Za-z0-9_-]{43}$/);

    const principal = await users.verify(token);
    expect(principal?.user).toMatchObject({ username: 'alice', name: 'Alice A.', role: 'auditor' });
    expect(principal?.apiKeyId).toBe(apiKeyId);

    const stored = await store.identity.keyById(apiKeyId);
    expect(stored).toMatchObject({ hash: hashToken(token), name: 'laptop', kind: 'api', revoked_at: null });
    expect(JSON.stringify(stored)).not.toContain(token);

    expect(await users.verify(`${token}x`)).toBeNull();
    expect(await users.verify('')).toBeNull();
  });

  it('rejects expired, revoked, disabled and deleted identities, duplicate and malformed usernames', async () => {
    const bob = await users.create('bob');
    expect(bob.role).toBe('member');
    const expired = await users.createToken(bob._id, { expiresAt: new Date(Date.now() - 1000) });
    expect(await users.verify(expired.token)).toBeNull();
    const revoked = await users.createToken(bob._id);
    expect(await users.revokeToken(revoked.apiKeyId)).toBe(true);
    expect(await users.revokeToken(revoked.apiKeyId)).toBe(false);
    expect(await users.verify(revoked.token)).toBeNull();

    const live = await users.createToken(bob._id);
    await users.disable('bob');
    expect(await users.verify(live.token)).toBeNull();
    await users.enable('bob');
    expect((await users.verify(live.token))?.user.username).toBe('bob');

    await expect(users.create('bob')).rejects.toThrow(IdentityError);
    await expect(users.create('no spaces')).rejects.toThrow(/username/);
    expect((await users.resolve(bob._id))?.username).toBe('bob');

    await users.delete('bob');
    expect(await users.verify(live.token)).toBeNull();
    expect((await users.tokens(bob._id)).every((t) => t.revoked_at !== null)).toBe(true);
    await expect(users.create('bob')).rejects.toThrow(/was deleted/);
    expect((await users.list()).map((u) => u.username)).not.toContain('bob');
  });
});

describe('authenticator', () => {
  it('reads the token from any supported header and shares one lookup between concurrent misses', async () => {
    const carol = await users.create('carol');
    const { token } = await users.createToken(carol._id);
    expect(tokenFrom({ authorization: `Bearer ${token}` })).toBe(token);
    expect(tokenFrom({ 'x-api-key': token })).toBe(token);
    expect(tokenFrom({ 'coder-session-token': token })).toBe(token);
    expect(tokenFrom({ authorization: 'Basic abc' })).toBeUndefined();

    const { state, store: counted } = flaky(store);
    const auth = new Authenticator(new Users(counted), counted);
    const results = await Promise.all([auth.authenticate(token), auth.authenticate(token), auth.authenticate(token)]);
    expect(results.map((r) => r?.user.username)).toEqual(['carol', 'carol', 'carol']);
    const after = state.lookups;
    await auth.authenticate(token);
    expect(state.lookups).toBe(after); // cached
    expect(await auth.authenticate('aib_unknown')).toBeNull();
    expect(await auth.authenticate(undefined)).toBeNull();
    await auth.close();
  });

  it('honours an expiry at once, even for a cached identity', async () => {
    const dave = await users.create('dave');
    const { token } = await users.createToken(dave._id, { expiresAt: new Date(Date.now() + 300) });
    const auth = new Authenticator(users, store, { ttlMs: 60_000 });
    expect(await auth.authenticate(token)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 350));
    expect(await auth.authenticate(token)).toBeNull();
    await auth.close();
  });

  it('notices a revocation made elsewhere once its re-check interval has passed', async () => {
    const erin = await users.create('erin');
    const { token, apiKeyId } = await users.createToken(erin._id);
    const auth = new Authenticator(users, store, { ttlMs: 100 });
    expect(await auth.authenticate(token)).not.toBeNull();
    await users.revokeToken(apiKeyId); // as another replica or the CLI would
    await new Promise((r) => setTimeout(r, 150));
    expect(await auth.authenticate(token)).toBeNull();
    await auth.close();
  });

  it('keeps nothing a lookup read before a revocation made through this process', async () => {
    const hana = await users.create('hana');
    const { token, apiKeyId } = await users.createToken(hana._id);
    const slow = new Users(store);
    const verify = slow.verify.bind(slow);
    let read!: () => void;
    let release!: () => void;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    slow.verify = async (t: string) => {
      const principal = await verify(t);
      read();
      await gate;
      return principal;
    };
    const auth = new Authenticator(slow, store, { ttlMs: 60_000 });
    const begun = auth.authenticate(token); // read while the token is good, answered after the revocation
    await hasRead;
    await users.revokeToken(apiKeyId);
    auth.forget(); // what the API does after a change
    release();
    expect((await begun)?.user.username).toBe('hana'); // the request that began before it
    slow.verify = verify;
    expect(await auth.authenticate(token)).toBeNull();
    await auth.close();
  });

  it('serves identities seen recently through a store outage, keeps refusals, and fails unknown tokens', async () => {
    const frank = await users.create('frank');
    const good = await users.createToken(frank._id);
    const bad = await users.createToken(frank._id);
    await users.revokeToken(bad.apiKeyId);
    const { state, store: outage } = flaky(store);
    const auth = new Authenticator(new Users(outage), outage, { ttlMs: 10, negativeTtlMs: 10, outageGraceMs: 60_000 });
    expect(await auth.authenticate(good.token)).not.toBeNull();
    expect(await auth.authenticate(bad.token)).toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    state.down = true;
    expect((await auth.authenticate(good.token))?.user.username).toBe('frank');
    expect(await auth.authenticate(bad.token)).toBeNull();
    const stranger = await users.createToken(frank._id);
    await expect(auth.authenticate(stranger.token)).rejects.toThrow(/unreachable/);
    state.down = false;
    expect(await auth.authenticate(stranger.token)).not.toBeNull();
    await auth.close();
  });

  it('records when tokens were last used in one batch, never per request', async () => {
    const gina = await users.create('gina');
    const { token, apiKeyId } = await users.createToken(gina._id);
    const auth = new Authenticator(users, store, { touchIntervalMs: 3_600_000 });
    for (let i = 0; i < 5; i++) await auth.authenticate(token);
    expect((await store.identity.keyById(apiKeyId))?.last_used_at).toBeNull();
    await auth.close(); // flushes
    expect((await store.identity.keyById(apiKeyId))?.last_used_at).toBeInstanceOf(Date);
  });
});
