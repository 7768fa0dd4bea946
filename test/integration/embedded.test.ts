import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { startEmbedded } from '../../src/store/embedded.ts';
import { isAlive, NODE, ROOT, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-embedded-');

async function withClient<T>(uri: string, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

describe('embedded database', () => {
  it('starts, is shared per data_dir, keeps data across restarts and stops', async () => {
    const dir = tempDir();
    const first = await startEmbedded(dir);
    expect(first.owner).toBe(true);
    expect(isAlive(first.pid)).toBe(true);
    await withClient(first.uri, (c) =>
      c
        .db('keep')
        .collection('things')
        .insertOne({ _id: 'x' as never, n: 1 }),
    );

    const second = await startEmbedded(dir);
    expect(second).toMatchObject({ owner: false, uri: first.uri, pid: first.pid });
    await second.stop(); // a non-owner never stops it
    expect(isAlive(first.pid)).toBe(true);

    await first.stop();
    await waitUntil(() => !isAlive(first.pid));

    const again = await startEmbedded(dir);
    expect(again.owner).toBe(true);
    const doc = await withClient(again.uri, (c) => c.db('keep').collection('things').findOne({}));
    expect(doc).toEqual({ _id: 'x', n: 1 });
    await again.stop();
  });

  it('leaves no orphan when its parent is killed with SIGKILL', async () => {
    const dir = tempDir();
    const parent = spawn(NODE, [resolve(ROOT, 'test/helpers/embedded-owner.ts'), dir], { stdio: 'pipe' });
    const line = await waitForOutput(parent, /"pid":\d+/);
    const { pid } = JSON.parse(line.trim().split('\n').at(-1) as string) as { pid: number };
    expect(isAlive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await waitUntil(() => !isAlive(pid), 15_000);
  });
});
