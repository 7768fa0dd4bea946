/**
 * The embedded store's thread protocol: calls are named by the Store interface, placed by
 * one table, and a connection answers exactly the table's methods — nothing reachable
 * through a name the table does not hold (prototype members included).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDatabase, migrate, openDatabase } from '../../src/store/sqlite/database.ts';
import { type Call, type MethodName, revive, run } from '../../src/store/sqlite/protocol.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { READS, THREAD_OF } from '../../src/store/sqlite/threads.ts';
import { DuplicateError, type SubStoreName, type UserDoc } from '../../src/store/store.ts';

const user = (username: string): UserDoc => ({
  _id: randomUUID(),
  username,
  name: username,
  role: 'member',
  created_at: new Date('2026-03-01T12:00:00Z'),
  disabled_at: null,
  deleted_at: null,
  budget: null,
  denied_servers: [],
});

describe('embedded store protocol', () => {
  let dir: string;
  let database: EmbeddedDatabase;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'aibridge-protocol-'));
    database = new EmbeddedDatabase(openDatabase(join(dir, 'store.db')));
    migrate(database.db);
  });

  afterAll(() => {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a call by its name and carries a duplicate back as a DuplicateError', () => {
    const alice = user('alice');
    expect(run(database, { id: 1, method: 'identity.createUser', args: [alice] })).toEqual({ id: 1, value: undefined });
    expect(run(database, { id: 2, method: 'identity.countUsers', args: [] })).toEqual({ id: 2, value: 1 });
    expect(run(database, { id: 3, method: 'identity.userByUsername', args: ['alice'] })).toEqual({
      id: 3,
      value: alice,
    });
    const again = run(database, { id: 4, method: 'identity.createUser', args: [{ ...alice, _id: randomUUID() }] });
    if (!('error' in again)) throw new Error('a second alice was accepted');
    expect(again.error.name).toBe('DuplicateError');
    expect(revive(again.error)).toBeInstanceOf(DuplicateError);
  });

  it('refuses every name outside the table, prototype members and malformed names included', () => {
    const names = [
      'audit.constructor',
      'audit.__proto__',
      'identity.toString',
      'pages.hasOwnProperty',
      'records.valueOf',
      'constructor.name',
      '__proto__.audit',
      'db.exec',
      'close.call',
      'audit',
      'audit.',
      '.list',
      'audit.list.extra',
      'nope.list',
    ];
    for (const method of names) {
      const response = run(database, { id: 9, method: method as MethodName, args: [] });
      expect(response, method).toEqual({
        id: 9,
        error: { name: 'Error', message: `no store method ${method}`, errcode: undefined },
      });
    }
  });

  it('has a connection method for every row of the table', () => {
    for (const [group, methods] of Object.entries(THREAD_OF)) {
      const target = database[group as keyof typeof THREAD_OF] as object;
      for (const name of Object.keys(methods)) {
        expect(typeof (target as Record<string, unknown>)[name], `${group}.${name}`).toBe('function');
      }
    }
  });

  it('sends reads to the readers and everything else to the writer, as the table says', () => {
    const reads = Object.entries(THREAD_OF).flatMap(([group, methods]) =>
      Object.entries(methods).flatMap(([name, thread]) => (thread === 'reader' ? [`${group}.${name}`] : [])),
    );
    expect([...READS].sort()).toEqual(reads.sort());
    // Writes never go to a reader connection.
    for (const method of ['records.write', 'records.purge', 'identity.createUser', 'identity.touchKeys']) {
      expect(READS.has(method), method).toBe(false);
    }
  });

  it('builds the store from the table: each sub-store has exactly its rows as methods', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aibridge-protocol-store-'));
    const store = openEmbeddedStore(dataDir, 'inline');
    try {
      const groups: SubStoreName[] = ['records', 'audit', 'identity', 'credentials', 'leases', 'quotas', 'documents'];
      for (const group of groups) {
        expect(Object.keys(store[group]).sort(), group).toEqual(Object.keys(THREAD_OF[group]).sort());
      }
      await store.identity.createUser(user('bob'));
      expect((await store.identity.userByUsername('bob'))?.username).toBe('bob');
      await expect(store.identity.createUser(user('bob'))).rejects.toBeInstanceOf(DuplicateError);
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('types every call by the interface it comes from (checked by the type checker)', async () => {
    const sent: Array<[string, unknown[]]> = [];
    const call = (async (method: MethodName, args: unknown[]) => {
      sent.push([method, args]);
      return 0;
    }) as Call;
    const count: number = await call('identity.countUsers', []);
    // @ts-expect-error a method no sub-store has
    await call('identity.dropEverything', []);
    // @ts-expect-error the arguments of another method
    await call('audit.count', []);
    // @ts-expect-error a result of the wrong type
    const wrong: string = await call('identity.countUsers', []);
    // @ts-expect-error a table without a row for each method of a sub-store
    const incomplete: typeof THREAD_OF = { ...THREAD_OF, leases: { acquire: 'writer' } };
    // @ts-expect-error a row for a method the interface does not have
    const extra: typeof THREAD_OF = { ...THREAD_OF, quotas: { ...THREAD_OF.quotas, reset: 'writer' } };
    expect([count, wrong, Object.keys(incomplete.leases), Object.keys(extra.quotas)]).toEqual([
      0,
      0,
      ['acquire'],
      ['grant', 'settle', 'prune', 'reset'],
    ]);
    expect(sent.map(([method]) => method)).toEqual([
      'identity.countUsers',
      'identity.dropEverything',
      'audit.count',
      'identity.countUsers',
    ]);
  });
});
