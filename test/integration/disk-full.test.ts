/**
 * A full disk under data_dir (README "Reliability"): data_dir on a small file system of its
 * own (root only), filled by real traffic of 60 kB prompts after a filler file took most of
 * it. With `recording.on_failure: refuse` new requests get 503 in the provider's format naming
 * the cause and /readyz says why; with `serve` they are answered and what memory cannot hold is
 * counted. Once the filler is deleted and the bridge restarted, every request answered 200 is
 * recorded (serve: all but those counted), nothing dead-lettered, nothing dropped. On MongoDB
 * the journal is what fills: the database (a FerretDB of the test's own) is stopped meanwhile.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { STORE_KINDS, type StoreKind } from '../helpers/db.ts';
import { type MongoServer, startMongoServer } from '../helpers/mongo-server.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';
import { cannotMountSmallFs, fill, mountSmallFs, type SmallFs } from '../helpers/small-fs.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const skip = cannotMountSmallFs();
const tempDir = tempDirs('aibridge-disk-full-');
const mounted: SmallFs[] = [];
afterAll(() => {
  for (const fs of mounted) fs.unmount();
});

const PROMPT_BYTES = 60_000;
const CONCURRENCY = 4;
/** Free space the filler leaves for the traffic to fill. */
const LEAVE = 3 * 1024 * 1024;

interface Outcome {
  status: number;
  marker: string;
  body: any;
}

/** The bridge and everything it runs on, restartable; the store is opened on data_dir (embedded) or a FerretDB of its own. */
async function rig(
  kind: StoreKind,
  onFailure: 'refuse' | 'serve',
  { recording = {}, megabytes = 24 }: { recording?: Record<string, unknown>; megabytes?: number } = {},
) {
  const fs = mountSmallFs(megabytes);
  mounted.push(fs);
  const dataDir = join(fs.dir, 'data');
  const upstream = await ReplayUpstream.start();
  upstream.keepRequests = false;
  upstream.setDefault((request) =>
    request.path.includes('/chat/completions') ? 'openai-chat/text.json' : 'anthropic-messages/text.json',
  );
  const dbDir = tempDir();
  const port = await freePort();
  let mongo: MongoServer | undefined;
  const openStore = async (): Promise<Store> => {
    if (kind === 'embedded') return openEmbeddedStore(dataDir, 'threads');
    mongo ??= await startMongoServer(dbDir, () => {}, { port });
    return openMongoStore(mongo.uri, 'diskfull', 10_000);
  };
  const overrides = {
    data_dir: dataDir,
    recording: { on_failure: onFailure, ...recording },
    providers: [
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream' },
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream' },
    ],
  };
  let store = await openStore();
  let bridge: TestBridge = await startTestBridge(store, overrides);
  const { token } = await bridge.user('dev');
  let next = 0;

  const send = async (bytes = PROMPT_BYTES): Promise<Outcome> => {
    const marker = `${kind}-${onFailure}-${next++}`;
    const response = await fetch(`${bridge.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-test-1',
        max_tokens: 16,
        messages: [{ role: 'user', content: `${marker} ${'x'.repeat(bytes)}` }],
      }),
    });
    return { status: response.status, marker, body: await response.json() };
  };

  return {
    fs,
    dataDir,
    filler: join(fs.dir, 'filler'),
    get bridge() {
      return bridge;
    },
    get store() {
      return store;
    },
    token,
    send,
    /** Sends at CONCURRENCY until `done` says so; every outcome, in the order they came. */
    async traffic(done: (outcomes: Outcome[]) => boolean, bytes = PROMPT_BYTES, limit = 1_500): Promise<Outcome[]> {
      const outcomes: Outcome[] = [];
      const worker = async () => {
        while (!done(outcomes)) {
          if (outcomes.length >= limit) throw new Error(`no end after ${limit} requests`);
          outcomes.push(await send(bytes));
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return outcomes;
    },
    /** MongoDB goes away (the bridge's client stays, and reconnects once it is back). */
    async stopDatabase() {
      await mongo?.stop();
    },
    async startDatabase() {
      mongo = await startMongoServer(dbDir, () => {}, { port });
    },
    /** Stops the bridge (it ships what it can) and starts it again, on a store opened anew. */
    async restart() {
      await bridge.close();
      await store.close();
      store = await openStore();
      bridge = await startTestBridge(store, overrides);
    },
    /** The markers of every interception recorded with its prompt. */
    async recorded(): Promise<Set<string>> {
      const markers = new Set<string>();
      for (let page = 0; ; page++) {
        const list = await store.audit.list({}, { limit: 500, offset: page * 500 });
        for (const d of list) {
          const prompt = d.user_prompts[0]?.prompt;
          if (d.interception.ended_at && prompt) markers.add(prompt.slice(0, prompt.indexOf(' ')));
        }
        if (list.length < 500) return markers;
      }
    },
    async close() {
      await bridge.close().catch(() => {});
      await store.close().catch(() => {});
      await mongo?.stop();
      await upstream.close();
      fs.unmount();
    },
  };
}

const readyz = async (url: string) => {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as any };
};

/** Log lines of a bridge whose message matches. */
const logged = (bridge: TestBridge, msg: RegExp) =>
  bridge.logs.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((l) => msg.test(l.msg));

describe.skipIf(skip)(`a full disk under data_dir${skip ? ` (skipped: ${skip})` : ''}`, () => {
  describe.each(STORE_KINDS)('%s store', (kind) => {
    it('refuse: new requests get 503 naming the cause while it is full; afterwards every request answered 200 is recorded', async () => {
      const r = await rig(kind, 'refuse');
      try {
        if (kind === 'mongodb') {
          // While the database keeps up, the journal gives back the space of what it shipped: a small disk never fills.
          fill(r.fs, r.filler, LEAVE);
          for (let i = 0; i < 80; i++) {
            expect((await r.send()).status).toBe(200); // 4.8 MB through 3 MiB of room
            await waitUntil(() => r.bridge.ctx.recorder.stats().pending === 0);
          }
          await r.stopDatabase(); // from here the journal is what fills
        }
        fill(r.fs, r.filler, LEAVE);
        const outcomes = await r.traffic((o) => o.filter((x) => x.status === 503).length >= 12);
        const answered = outcomes.filter((o) => o.status === 200).map((o) => o.marker);
        const refused = outcomes.filter((o) => o.status === 503);
        expect(answered.length).toBeGreaterThan(10);
        expect(outcomes.filter((o) => o.status !== 200 && o.status !== 503)).toEqual([]);
        for (const { body } of refused) {
          expect(body).toEqual({
            type: 'error',
            error: {
              type: 'overloaded_error',
              message:
                'AI Bridge cannot record requests right now (its journal cannot be written: disk full (ENOSPC)); retry later',
            },
          });
        }

        // The real SDKs read it as their provider's 503.
        const { url } = r.bridge;
        const { token } = r;
        const anthropic = new Anthropic({ baseURL: `${url}/anthropic`, apiKey: token, maxRetries: 0 });
        await expect(
          anthropic.messages.create({
            model: 'claude-test-1',
            max_tokens: 8,
            messages: [{ role: 'user', content: 'hi' }],
          }),
        ).rejects.toMatchObject({ status: 503, error: { error: { type: 'overloaded_error' } } });
        const openai = new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: token, maxRetries: 0 });
        await expect(
          openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
        ).rejects.toMatchObject({
          status: 503,
          type: 'server_error',
          code: 'overloaded',
          message: expect.stringContaining('disk full (ENOSPC)'),
        });

        const notReady = await readyz(url);
        expect(notReady.status).toBe(503);
        expect(notReady.body.message).toContain(
          'records cannot be kept: the journal cannot be written (disk full (ENOSPC))',
        );
        expect(notReady.body.recording).toMatchObject({
          state: 'failing',
          where: 'journal',
          cause: 'disk full (ENOSPC)',
        });
        const scrape = await scrapeMetrics(url);
        expect(scrape.value('aibridge_refused_requests_total', { reason: 'unrecordable' })).toBe(refused.length + 2);

        // Room again: what was held goes into the journal, then to the store; no restart needed for that.
        rmSync(r.filler);
        if (kind === 'mongodb') await r.startDatabase();
        await waitUntil(async () => (await readyz(url)).status === 200, 30_000);
        const before = r.bridge;
        const after = await scrapeMetrics(before.url);
        for (const name of [
          'aibridge_recorder_dropped_records_total',
          'aibridge_recorder_dead_letters_total',
          'aibridge_unrecorded_interceptions_total',
        ]) {
          expect(after.value(name), name).toBe(0);
        }
        // One line each time the journal started failing and one each time it recovered, in turn; never one
        // per record. At the edge of a full disk a write may fit between two that do not (a file shrank),
        // which is a change of state too.
        const changes = logged(before, /journal cannot be written|journal takes records again/).map((l) =>
          /cannot be written/.test(l.msg) ? 'failed' : 'recovered',
        );
        expect(changes.length, JSON.stringify(changes)).toBeGreaterThanOrEqual(2);
        expect(changes.length, JSON.stringify(changes)).toBeLessThanOrEqual(6);
        expect(changes).toEqual(changes.map((_, i) => (i % 2 ? 'recovered' : 'failed')));
        expect(before.logs.text).not.toMatch(/cannot rollback|record lost|lost at shutdown/);

        await r.restart();
        let recorded = new Set<string>();
        await waitUntil(async () => {
          recorded = await r.recorded();
          return answered.every((m) => recorded.has(m));
        }, 60_000).catch(() => {});
        const missing = answered.filter((m) => !recorded.has(m));
        expect(missing, `${missing.length} of ${answered.length} answered requests unrecorded`).toEqual([]);
        expect(existsSync(join(r.dataDir, 'dead-letter')) ? readdirSync(join(r.dataDir, 'dead-letter')) : []).toEqual(
          [],
        );
        expect(r.bridge.ctx.recorder.stats()).toMatchObject({ dropped: 0, deadLettered: 0, unrecorded: 0 });
        // And it serves again.
        expect((await r.send()).status).toBe(200);
      } finally {
        await r.close();
      }
    }, 180_000);

    it('serve: requests are answered; what memory could not hold is counted, exactly, and everything else recorded', async () => {
      // Prompts of 2 MiB are recorded whole, so the memory bound (64 Mi characters) is passed in a few dozen
      // requests; the disk is large enough to take what memory held once the filler is gone.
      const r = await rig(kind, 'serve', { recording: { max_field_bytes: '4MiB' }, megabytes: 200 });
      try {
        expect((await r.send()).status).toBe(200); // the user is known: served on through the database's outage
        if (kind === 'mongodb') await r.stopDatabase();
        fill(r.fs, r.filler, LEAVE);
        const failing = () => r.bridge.ctx.recorder.failure()?.where === 'journal';
        const before = await r.traffic(() => failing());
        const overflow = await r.traffic((o) => o.length >= 45, 2 * 1024 * 1024);
        const outcomes = [...before, ...overflow];
        expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
        const answered = [`${kind}-serve-0`, ...outcomes.map((o) => o.marker)];
        const scrape = await scrapeMetrics(r.bridge.url);
        const unrecorded = scrape.value('aibridge_unrecorded_interceptions_total');
        expect(unrecorded).toBeGreaterThan(0);
        expect(unrecorded).toBeLessThan(45);
        // Each of its records is dropped; none of the others'.
        expect(scrape.value('aibridge_recorder_dropped_records_total')).toBeGreaterThanOrEqual(unrecorded);
        expect(scrape.value('aibridge_refused_requests_total', { reason: 'unrecordable' })).toBe(0);
        expect((await readyz(r.bridge.url)).status).toBe(503);

        rmSync(r.filler);
        if (kind === 'mongodb') await r.startDatabase();
        await waitUntil(async () => (await readyz(r.bridge.url)).status === 200, 60_000);
        expect(r.bridge.logs.text).not.toMatch(/cannot rollback|lost at shutdown/);
        await r.restart();
        let recorded = new Set<string>();
        await waitUntil(async () => {
          recorded = await r.recorded();
          return recorded.size >= answered.length - unrecorded;
        }, 60_000).catch(() => {});
        // Exactly what was counted is missing, all of it from the end of the traffic (memory kept the oldest).
        const missing = answered.filter((m) => !recorded.has(m));
        expect(missing).toHaveLength(unrecorded);
        expect(missing.every((m) => overflow.some((o) => o.marker === m))).toBe(true);
        expect(await r.store.audit.count({})).toBe(answered.length - unrecorded);
        expect(r.bridge.ctx.recorder.stats()).toMatchObject({ dropped: 0, deadLettered: 0 });
      } finally {
        await r.close();
      }
    }, 180_000);
  });
});
