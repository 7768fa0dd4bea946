import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAll } from '../../src/audit/verify.ts';
import { Users } from '../../src/identity/users.ts';
import { McpCredentials } from '../../src/mcp/credentials.ts';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import type { RecordOp } from '../../src/store/records.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { COLLECTIONS, MIGRATED_COLLECTIONS, type Store } from '../../src/store/store.ts';
import { mongoUri } from '../helpers/db.ts';
import { CLI, NODE, ROOT, runCli, waitForOutput } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-migrate-');
const database = `migrate_${process.pid}`;
const T0 = Date.parse('2026-06-01T00:00:00Z');
const INTERCEPTIONS = 300;

let target: (Store & { db: import('mongodb').Db }) | undefined;
afterAll(async () => {
  await target?.db.dropDatabase();
  await target?.close();
});

/** An embedded store with users, tokens, MCP credentials and interceptions with children. */
async function seed(dataDir: string) {
  const store = openEmbeddedStore(dataDir, 'inline');
  const users = new Users(store);
  const alice = await users.create('alice', { role: 'owner' });
  await users.createToken(alice._id, { name: 'laptop', expiresAt: new Date(T0 + 86_400_000) });
  await new McpCredentials(store.credentials, Buffer.alloc(32, 7)).set(alice._id, 'github', { Authorization: 'x' });
  const ops: RecordOp[] = [];
  for (let i = 0; i < INTERCEPTIONS; i++) {
    const id = randomUUID();
    const at = new Date(T0 + i * 1_000);
    ops.push(
      {
        kind: 'interception',
        doc: {
          _id: id,
          initiator_id: alice._id,
          api_key_id: 'k',
          provider: 'anthropic',
          provider_name: 'anthropic',
          model: 'claude-sonnet-4-5',
          client: 'Claude Code',
          user_agent: null,
          client_session_id: `s${i % 7}`,
          started_at: at,
          ended_at: new Date(at.getTime() + 500),
          status: 'completed',
          cost_usd: 0.01,
          totals: {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_input_tokens: 0,
            cache_write_input_tokens: 0,
            tool_calls: 0,
          },
          metadata: { i },
        },
      },
      {
        kind: 'user_prompt',
        doc: { _id: randomUUID(), interception_id: id, provider_response_id: null, prompt: `p${i}`, created_at: at },
      },
    );
  }
  await store.records.write(ops);
  return store;
}

function configIn(dir: string): string {
  const file = join(dir, 'aibridge.yaml');
  writeFileSync(file, JSON.stringify({ data_dir: join(dir, 'data') }));
  return file;
}

describe('aibridge migrate', () => {
  it('copies every document exactly, resumes after an interruption, and copies nothing twice', async () => {
    const dir = tempDir();
    const source = await seed(join(dir, 'data'));
    const config = configIn(dir);
    const args = ['migrate', '--to', mongoUri(), '--database', database, '-c', config];

    // Interrupted: killed once the interceptions are under way (small batches make it slow enough).
    const child = spawn(NODE, [CLI, ...args, '--batch-size', '20'], { cwd: ROOT, stdio: 'pipe' });
    await waitForOutput(child, /interceptions: \d+\/\d+ read/, 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(readdirSync(join(dir, 'data')).some((n) => n.startsWith('migrate-'))).toBe(true);

    const resumed = await runCli(args, {}, 120_000);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/users: copied by an earlier run/);
    expect(resumed.stderr).toMatch(/interceptions: resuming after /);
    expect(resumed.stderr).toMatch(/mongodb:\/\//); // where it copied to, credentials hidden
    expect(readdirSync(join(dir, 'data')).some((n) => n.startsWith('migrate-'))).toBe(false);

    target = await openMongoStore(mongoUri(), database);
    for (const collection of MIGRATED_COLLECTIONS) {
      expect(await target.documents.estimate(collection), collection).toBe(await source.documents.estimate(collection));
    }
    // Documents arrive as the MongoDB store writes them: real dates, the same fields.
    const [first] = await source.documents.scan(COLLECTIONS.interceptions, null, 1);
    const copied = await target.db.collection(COLLECTIONS.interceptions).findOne({ _id: first!._id as never });
    expect(copied).toEqual(first);
    expect(copied?.started_at).toBeInstanceOf(Date);
    expect(await target.audit.count({ client_session_id: 's3' })).toBe(
      await source.audit.count({ client_session_id: 's3' }),
    );
    expect((await target.identity.userByUsername('alice'))?.role).toBe('owner');
    // The chain came along with its records, and verifies in MongoDB as it did in the file.
    const verified = await verifyAll(target.chain);
    expect(verified).toMatchObject({ problem: null, checked: INTERCEPTIONS * 2 });
    expect(verified.chains.map((c) => c.writer.store)).toEqual(['embedded']);

    const again = await runCli(args, {}, 120_000);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/migrated: 0 documents copied/);
    await source.close();
  }, 240_000);

  it('refuses a config that already uses MongoDB, and a target that is not a MongoDB URI', async () => {
    const dir = tempDir();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(file, JSON.stringify({ data_dir: join(dir, 'data'), mongodb: { uri: mongoUri() } }));
    const mongo = await runCli(['migrate', '--to', mongoUri(), '-c', file]);
    expect(mongo.code).toBe(2);
    expect(mongo.stderr).toMatch(/already uses MongoDB/);
    const bad = await runCli(['migrate', '--to', 'postgres://x', '-c', configIn(dir)]);
    expect(bad.code).toBe(2);
    expect(existsSync(join(dir, 'data', 'migrate'))).toBe(false);
  });
});
