/**
 * The last-owner rule and case-free usernames under concurrency, in the store itself (both
 * stores), and what the MongoDB store's log of user changes does when a process dies half-way.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoIdentity } from '../../src/store/mongo/identity.ts';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { USER_CHANGES } from '../../src/store/mongo/user-changes.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { DuplicateError, isActiveOwner, type Store, type UserDoc, type UserPatch } from '../../src/store/store.ts';
import { mongoUri, STORE_KINDS, type TestStore, testMongoStore, testStore } from '../helpers/db.ts';

const user = (username: string, role: UserDoc['role'] = 'owner'): UserDoc => ({
  _id: randomUUID(),
  username,
  name: username,
  role,
  created_at: new Date(),
  disabled_at: null,
  deleted_at: null,
  budget: null,
  denied_servers: [],
});

const ROUNDS = 5;

describe.each(STORE_KINDS)('%s store', (kind) => {
  let store: TestStore;
  /** The same store opened again, as another process would (a replica, an admin command). */
  let other: Store;
  /** Changes are spread over both, so they race in the database, not only in one process. */
  const identity = (i: number) => (i % 2 ? other : store).identity;
  beforeAll(async () => {
    store = await testStore(kind, `owner-rule-${kind}`);
    other = store.db
      ? await openMongoStore(mongoUri(), store.db.databaseName)
      : openEmbeddedStore(store.dataDir as string, 'inline');
  });
  afterAll(async () => {
    await other?.close();
    await store?.close();
  });

  const activeOwners = async () => (await store.identity.users()).filter(isActiveOwner).map((u) => u.username);

  /** New owners, then every other owner demoted: the rule has only them to keep. */
  async function onlyOwners(...names: string[]): Promise<UserDoc[]> {
    const owners = names.map((name) => user(name));
    for (const owner of owners) await store.identity.createUser(owner);
    for (const other of await store.identity.users()) {
      if (isActiveOwner(other) && !names.includes(other.username)) {
        expect(await store.identity.updateUser(other._id, { role: 'member' })).toBe('updated');
      }
    }
    expect((await activeOwners()).sort()).toEqual([...names].sort());
    return owners;
  }

  /** Each round fires `changes` at two owners at once; exactly one stays an owner, then the other is made one again. */
  async function race(prefix: string, changes: (a: UserDoc, b: UserDoc) => Array<[UserDoc, UserPatch]>) {
    const [a, b] = (await onlyOwners(`${prefix}-a`, `${prefix}-b`)) as [UserDoc, UserDoc];
    for (let round = 0; round < ROUNDS; round++) {
      const outcomes = await Promise.all(changes(a, b).map(([u, patch], i) => identity(i).updateUser(u._id, patch)));
      expect(outcomes.every((o) => o === 'updated' || o === 'last-owner')).toBe(true);
      expect(outcomes).toContain('last-owner');
      const left = await activeOwners();
      expect(left, `round ${round}`).toHaveLength(1);
      for (const u of [a, b]) {
        if (!left.includes(u.username))
          expect(await store.identity.updateUser(u._id, { role: 'owner', disabled_at: null })).toBe('updated');
      }
    }
  }

  it('20 concurrent mutual demotions leave exactly one owner, every time', async () => {
    await race('demote', (a, b) =>
      Array.from({ length: 20 }, (_, i): [UserDoc, UserPatch] => [i % 2 ? a : b, { role: 'member' }]),
    );
  });

  it('concurrent disables and demotions of two owners leave one', async () => {
    const patches: UserPatch[] = [{ disabled_at: new Date() }, { role: 'auditor' }, { disabled_at: new Date() }];
    await race('disable', (a, b) =>
      Array.from({ length: 20 }, (_, i): [UserDoc, UserPatch] => [i % 2 ? a : b, patches[i % 3] as UserPatch]),
    );
  });

  it('concurrent deletes of two owners delete one', async () => {
    const [c, d] = (await onlyOwners('delete-c', 'delete-d')) as [UserDoc, UserDoc];
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        identity(i >> 1).updateUser((i % 2 ? c : d)._id, { deleted_at: new Date() }),
      ),
    );
    expect(outcomes).toContain('last-owner');
    expect(await activeOwners()).toHaveLength(1);
    const deleted = [await store.identity.userById(c._id), await store.identity.userById(d._id)].filter(
      (u) => u?.deleted_at,
    );
    expect(deleted).toHaveLength(1);
  });

  it('demotions racing a promotion never leave no owner', async () => {
    const [holder] = (await onlyOwners('holder')) as [UserDoc];
    for (let round = 0; round < ROUNDS; round++) {
      const rising = user(`rising-${round}`, 'member');
      await store.identity.createUser(rising);
      const changes: Array<[UserDoc, UserPatch]> = [
        [holder, { role: 'member' }],
        [rising, { role: 'owner' }],
        [rising, { role: 'member' }],
        [holder, { disabled_at: new Date() }],
        [rising, { disabled_at: new Date() }],
        [rising, { role: 'owner' }],
      ];
      const outcomes = await Promise.all(changes.map(([u, patch], i) => identity(i).updateUser(u._id, patch)));
      expect(outcomes.every((o) => o === 'updated' || o === 'last-owner')).toBe(true);
      expect((await activeOwners()).length, `round ${round}`).toBeGreaterThanOrEqual(1);
      // Back to one owner, the holder, whatever the round left.
      await store.identity.updateUser(holder._id, { role: 'owner', disabled_at: null });
      await store.identity.updateUser(rising._id, { role: 'member' });
      expect(await activeOwners()).toEqual([holder.username]);
    }
  });

  it('creates one user of a name in any case, when many ask at once', async () => {
    const names = ['grace', 'Grace', 'GRACE', 'gRace', 'graCE', 'GRace', 'grACE', 'GrAcE'];
    const outcomes = await Promise.allSettled(names.map((name, i) => identity(i).createUser(user(name, 'member'))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(DuplicateError);
    expect((await store.identity.users()).filter((u) => u.username.toLowerCase() === 'grace')).toHaveLength(1);
  });
});

describe('the MongoDB store’s log of user changes', () => {
  let store: Awaited<ReturnType<typeof testMongoStore>>;
  let a: UserDoc;
  let b: UserDoc;
  beforeAll(async () => {
    store = await testMongoStore('owner-rule-log');
    a = user('log-a');
    b = user('log-b');
    await store.identity.createUser(a);
    await store.identity.createUser(b);
  });
  afterAll(() => store?.close());

  const log = () => store.db.collection<{ _id: string; version: number; at: Date; change?: unknown }>(USER_CHANGES);

  /** What a process that died after recording its change, before making it, leaves behind. */
  async function leavePending(change: unknown): Promise<number> {
    const [newest] = await log()
      .find({ _id: { $regex: /^change#/ } })
      .sort({ _id: -1 })
      .limit(1)
      .toArray();
    const version = (newest?.version ?? 0) + 1;
    await log().insertOne({ _id: `change#${String(version).padStart(12, '0')}`, version, at: new Date(), change });
    return version;
  }

  it('records every change, each marked applied once made', async () => {
    expect(await store.identity.updateUser(a._id, { name: 'A.' })).toBe('updated');
    const ids = (await log().find({}).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(ids.length % 2).toBe(0);
    for (let i = 0; i < ids.length; i += 2) expect(ids[i + 1]).toBe(`${ids[i]}~`);
  });

  it('holds later changes while an entry is pending, and does not pass them unchecked', async () => {
    await leavePending({ op: 'update', id: a._id, patch: { role: 'member' } });
    const patient = new MongoIdentity(store.db, { staleMs: 60_000, deadlineMs: 200 });
    await expect(patient.updateUser(b._id, { role: 'member' })).rejects.toThrow(/held up/);
    expect((await store.identity.userById(b._id))?.role).toBe('owner');
  });

  it('completes an entry its maker left once it is stale, then decides the next change on what it made', async () => {
    // Stale soon; the deadline (the test above's subject) far enough that a busy test database meets it.
    const helper = new MongoIdentity(store.db, { staleMs: 100, deadlineMs: 30_000 });
    // The pending demotion of a (kept the rule when decided: b was an owner) is made first;
    // b is then the last owner, so b's demotion is refused.
    expect(await helper.updateUser(b._id, { role: 'member' })).toBe('last-owner');
    expect((await store.identity.userById(a._id))?.role).toBe('member');
    expect((await store.identity.userById(b._id))?.role).toBe('owner');
    expect(await log().countDocuments({ _id: { $regex: /^repair#/ } })).toBe(1);
  });

  it('forgets entries far behind the newest, and goes on from the newest', async () => {
    const short = new MongoIdentity(store.db, { keep: 10 });
    for (let i = 0; i < 25; i++) expect(await short.updateUser(a._id, { name: `a${i}` })).toBe('updated');
    const versions = (
      await log()
        .find({ _id: { $regex: /^change#/ } })
        .toArray()
    ).map((d) => d.version);
    const newest = Math.max(...versions);
    expect(Math.min(...versions)).toBeGreaterThanOrEqual(newest - 10);
    expect(await store.identity.updateUser(a._id, { name: 'A.' })).toBe('updated');
    expect(Math.max(...(await log().find({}).toArray()).map((d) => d.version))).toBe(newest + 1);
  });

  it('completes a create left half-way, and a create that lost its username to an insert outside the log', async () => {
    const left = user('half-made', 'member');
    await leavePending({ op: 'create', doc: left });
    const helper = new MongoIdentity(store.db, { staleMs: 50, deadlineMs: 30_000 });
    expect(await helper.updateUser(b._id, { name: 'B.' })).toBe('updated');
    expect((await store.identity.userById(left._id))?.username).toBe('half-made');

    // A migrate-style insert took the name between the decision and the write: the write is dropped.
    await store.documents.insertNew('users', [user('late', 'member')]);
    await leavePending({ op: 'create', doc: user('late', 'member') });
    expect(await helper.updateUser(b._id, { name: 'B.B.' })).toBe('updated');
    expect((await store.identity.users()).filter((u) => u.username.toLowerCase() === 'late')).toHaveLength(1);
  });
});
