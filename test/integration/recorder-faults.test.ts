import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import type { InterceptionDetail } from '../../src/store/store.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { startMongoServer } from '../helpers/mongo-server.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-fault-');

const ask = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };
const segments = (dataDir: string) => readdirSync(join(dataDir, 'journal')).filter((n) => n.endsWith('.ndjson'));

describe('recorder under MongoDB faults', () => {
  it('answers every request while MongoDB is down, keeps records in the journal, writes them once it is back; a restart replays the rest', async () => {
    const dbDir = tempDir();
    const dataDir = tempDir();
    const port = await freePort();
    let db = await startMongoServer(dbDir, () => {}, { port });
    const store = await openMongoStore(db.uri, 'faults', 5_000);
    const upstream = await ReplayUpstream.start();
    upstream.setDefault('anthropic-messages/text.json');
    const overrides = {
      data_dir: dataDir,
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'k' }],
    };
    let bridge = await startTestBridge(store, overrides);
    const { token } = await bridge.user('faulty');
    const client = () => new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: token, maxRetries: 0 });
    const ended = () => store.audit.count({ status: 'completed' });
    try {
      for (let i = 0; i < 10; i++) await client().messages.create(ask);
      await db.stop();
      for (let i = 0; i < 10; i++) {
        const message = await client().messages.create(ask);
        expect(message.stop_reason).toBe('end_turn');
      }
      await waitUntil(() => bridge.ctx.recorder.stats().backlogBytes > 0, 20_000);

      db = await startMongoServer(dbDir, () => {}, { port });
      await waitUntil(async () => (await ended().catch(() => 0)) === 20, 30_000);
      // A batch goes into every collection at once: an ended interception can be read a moment before its children.
      const whole = (all: InterceptionDetail[]) =>
        all.every((d) => d.token_usages.length === 1 && d.user_prompts.length === 1);
      await waitUntil(async () => whole(await store.audit.list({}, { limit: 100 })), 10_000).catch(() => {});
      const all = await store.audit.list({}, { limit: 100 });
      expect(all).toHaveLength(20);
      expect(whole(all)).toBe(true);
      expect(bridge.ctx.recorder.stats()).toMatchObject({ dropped: 0, deadLettered: 0 });

      // Down again; the bridge stops with records the store did not take: they wait in the journal.
      await db.stop();
      for (let i = 0; i < 5; i++) await client().messages.create(ask);
      await bridge.close();
      expect(segments(dataDir).length).toBeGreaterThan(0);

      db = await startMongoServer(dbDir, () => {}, { port });
      bridge = await startTestBridge(store, overrides);
      await waitUntil(async () => (await ended().catch(() => 0)) === 25, 30_000);
      await waitUntil(() => bridge.ctx.recorder.stats().backlogBytes === 0, 10_000);
      expect((await store.audit.list({}, { limit: 100 })).filter((d) => d.user_prompts.length === 1)).toHaveLength(25);
    } finally {
      await bridge.close();
      await upstream.close();
      await store.close();
      await db.stop();
    }
  }, 120_000);
});
