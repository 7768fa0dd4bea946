/**
 * README "Reliability": a request's records are on local disk before its response ends, so kill -9 loses
 * none. The real server (the CLI, a child process) is killed three times mid-traffic at
 * concurrency 10; after a restart, every request that was answered 200 is recorded, ended.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAll } from '../../src/audit/verify.ts';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { mongoUri, STORE_KINDS } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { CLI, NODE, ROOT, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-durability-');
const REQUESTS = 1_000; // per store: 2 000 in all
const CONCURRENCY = 10;
const KILLS = 3;

let upstream: ReplayUpstream;
beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.keepRequests = false;
  upstream.setDefault('anthropic-messages/text.json');
});
afterAll(() => upstream?.close());

/**
 * The server on `config`, ready once `ready` is seen. The first start prints the owner's token to
 * stderr after its "listening" log line on stdout, and the two pipes are read in either order.
 */
function start(config: string, ready = /aibridge listening/): { child: ChildProcess; ready: Promise<string> } {
  const child = spawn(NODE, [CLI, 'server', '--config', config], { cwd: ROOT, stdio: 'pipe' });
  child.stdout?.resume();
  return { child, ready: waitForOutput(child, ready, 60_000) };
}

/** Every prompt of an ended interception in the store. */
async function recordedPrompts(store: Store): Promise<Set<string>> {
  const prompts = new Set<string>();
  let after: Awaited<ReturnType<Store['audit']['cursor']>> = null;
  for (;;) {
    const page = await store.audit.list({}, { limit: 1000, after: after ?? undefined });
    for (const d of page) if (d.interception.ended_at && d.user_prompts[0]) prompts.add(d.user_prompts[0].prompt);
    if (page.length < 1000) return prompts;
    const last = page.at(-1)?.interception as { _id: string; started_at: Date };
    after = { _id: last._id, started_at: last.started_at };
  }
}

describe.each(STORE_KINDS)('kill -9 mid-traffic (%s store)', (kind) => {
  it(`loses no answered request across ${KILLS} kills`, async () => {
    const dir = tempDir();
    const port = await freePort();
    const database = `durability_${process.pid}_${Date.now()}`;
    const config = join(dir, 'aibridge.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        listen: `127.0.0.1:${port}`,
        data_dir: join(dir, 'data'),
        retention: 0,
        ...(kind === 'mongodb' ? { mongodb: { uri: mongoUri(), database } } : {}),
        providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-test' }],
      }),
    );
    let server = start(config, /ANTHROPIC_AUTH_TOKEN=\S+\n/);
    const banner = await server.ready;
    const token = /ANTHROPIC_AUTH_TOKEN=(\S+)/.exec(banner)?.[1] as string;
    expect(token).toMatch(/^aib_/);

    const answered: string[] = [];
    let next = 0;
    let kills = 0;
    let restarting: Promise<unknown> | undefined;
    const send = async (prompt: string) => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/anthropic/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
          body: JSON.stringify({
            model: 'claude-test-1',
            max_tokens: 16,
            messages: [{ role: 'user', content: prompt }],
          }),
        });
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false; // cut by a kill, or sent while the server was down
      }
    };
    const worker = async () => {
      while (answered.length < REQUESTS) {
        if (restarting) await restarting;
        const prompt = `durability ${kind} ${next++}`;
        if (await send(prompt)) answered.push(prompt);
        if (kills < KILLS && answered.length >= ((kills + 1) * REQUESTS) / (KILLS + 1) && !restarting) {
          kills++;
          server.child.kill('SIGKILL');
          restarting = (async () => {
            await new Promise((r) => server.child.once('exit', r));
            server = start(config);
            await server.ready;
          })().finally(() => {
            restarting = undefined;
          });
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      expect(kills).toBe(KILLS);
      // The last kill comes after the traffic, so the final run must replay the journal.
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      server = start(config);
      await server.ready;

      const store =
        kind === 'mongodb'
          ? await openMongoStore(mongoUri(), database)
          : openEmbeddedStore(join(dir, 'data'), 'inline');
      try {
        let recorded = new Set<string>();
        await waitUntil(async () => {
          recorded = await recordedPrompts(store);
          return answered.every((p) => recorded.has(p));
        }, 60_000).catch(() => {});
        const missing = answered.filter((p) => !recorded.has(p));
        expect(missing, `${missing.length} of ${answered.length} answered requests unrecorded`).toEqual([]);
        // Journals replayed after each kill (records the store already had among them) neither
        // forked nor broke the chains: every run's writes verify, writes cut short included.
        const verified = await verifyAll(store.chain);
        expect(verified.problem).toBeNull();
        expect(verified.checked).toBeGreaterThanOrEqual(answered.length * 2);
        if (kind === 'mongodb') expect(verified.chains.length).toBeGreaterThan(KILLS);
      } finally {
        await store.close();
      }
    } finally {
      server.child.kill('SIGTERM');
    }
  }, 180_000);
});
