import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator, tokenFrom } from '../../src/identity/authenticator.ts';
import { hashToken, IdentityError, Users } from '../../src/identity/users.ts';
import { COLLECTIONS, ensureIndexes, type Store } from '../../src/store/mongo.ts';
import { testStore } from '../helpers/db.ts';

let store: Store;
let users: Users;

beforeAll(async () => {
  store = await testStore('identity');
  users = new Users(store.db);
});
afterAll(() => store.close());

describe('store', () => {
  it('creates its indexes idempotently', async () => {
    await ensureIndexes(store.db);
    await ensureIndexes(store.db);
    const names = (await store.db.collection(COLLECTIONS.interceptions).indexes()).map((i) => i.name);
    expect(names).toEqual(
      expect.arrayContaining(['started_at_id', 'initiator_started', 'provider', 'model', 'client']),
    );
    const userIndexes = await store.db.collection(COLLECTIONS.users).indexes();
    expect(userIndexes.find((i) => i.name === 'username_unique')?.unique).toBe(true);
  });
});

describe('users and tokens', () => {
  it('creates, verifies and rejects tokens, storing only a hash', async () => {
    const alice = await users.create('alice', { name: 'Alice A.', role: 'auditor' });
    const { token, apiKeyId } = await users.createToken(alice._id);
    expect(token).toMatch(/^aib_[A-Za-z0-9_-]{43}$/);

    const principal = await users.verify(token);
    expect(principal?.user).toMatchObject({ username: 'alice', name: 'Alice A.', role: 'auditor' });
    expect(principal?.apiKeyId).toBe(apiKeyId);

    const stored = await store.db.collection(COLLECTIONS.apiKeys).findOne({ _id: apiKeyId as never });
    expect(stored?.hash).toBe(hashToken(token));
    expect(JSON.stringify(stored)).not.toContain(token);

    expect(await users.verify(`${token}x`)).toBeNull();
    expect(await users.verify('')).toBeNull();
  });

  it('rejects expired tokens, duplicate and malformed usernames', async () => {
    const bob = await users.create('bob');
    expect(bob.role).toBe('member');
    const expired = await users.createToken(bob._id, new Date(Date.now() - 1000));
    expect(await users.verify(expired.token)).toBeNull();
    await expect(users.create('bob')).rejects.toThrow(IdentityError);
    await expect(users.create('no spaces')).rejects.toThrow(/username/);
    expect((await users.resolve(bob._id))?.username).toBe('bob');
    expect((await users.resolve('bob'))?._id).toBe(bob._id);
  });

  it('authenticates from any supported header and caches lookups', async () => {
    const carol = await users.create('carol');
    const { token } = await users.createToken(carol._id);
    expect(tokenFrom({ authorization: `Bearer ${token}` })).toBe(token);
    expect(tokenFrom({ 'x-api-key': token })).toBe(token);
    expect(tokenFrom({ 'coder-session-token': token })).toBe(token);
    expect(tokenFrom({ authorization: 'Basic abc' })).toBeUndefined();

    let lookups = 0;
    const counting = Object.create(users) as Users;
    counting.verify = (t: string) => {
      lookups++;
      return users.verify(t);
    };
    const auth = new Authenticator(counting);
    const results = await Promise.all([auth.authenticate(token), auth.authenticate(token), auth.authenticate(token)]);
    expect(results.map((r) => r?.user.username)).toEqual(['carol', 'carol', 'carol']);
    await auth.authenticate(token);
    expect(lookups).toBe(1);
    expect(await auth.authenticate('aib_unknown')).toBeNull();
    expect(await auth.authenticate(undefined)).toBeNull();
  });
});
