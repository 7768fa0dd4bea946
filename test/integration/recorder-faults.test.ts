import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { freePort, startEmbedded } from '../../src/store/embedded.ts';
import { COLLECTIONS, connectStore, ensureIndexes } from '../../src/store/mongo.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-fault-');

const ask = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('recorder under database faults', () => {
  it('answers every request while MongoDB is down, journals, and writes every record once it is back; a restart replays the journal', async () => {
    const dbDir = tempDir();
    const dataDir = tempDir();
    const port = await freePort();
    let db = await startEmbedded(dbDir, () => {}, { port });
    const store = await connectStore(db.uri, 'faults', 2_000);
    await ensureIndexes(store.db);
    const upstream = await ReplayUpstream.start();
    upstream.setDefault('anthropic-messages/text.json');
    const overrides = {
      data_dir: dataDir,
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'k' }],
    };
    let bridge = await startTestBridge(store, overrides);
    const { token } = await bridge.user('faulty');
    const client = () => new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: token, maxRetries: 0 });
    const count = () => store.db.collection(COLLECTIONS.interceptions).countDocuments({ ended_at: { $ne: null } });
    try {
      for (let i = 0; i < 10; i++) await client().messages.create(ask);
      await db.stop();
      for (let i = 0; i < 10; i++) {
        const message = await client().messages.create(ask);
        expect(message.stop_reason).toBe('end_turn');
      }
      await waitUntil(() => bridge.ctx.recorder.stats().journaled > 0, 20_000);
      expect(readdirSync(join(dataDir, 'journal')).length).toBeGreaterThan(0);

      db = await startEmbedded(dbDir, () => {}, { port });
      await waitUntil(async () => (await count().catch(() => 0)) === 20, 30_000);
      expect(await store.db.collection(COLLECTIONS.tokenUsages).countDocuments({})).toBe(20);
      expect(bridge.ctx.recorder.stats().dropped).toBe(0);

      // Down again; the bridge stops with records it could not write: they wait in the journal.
      await db.stop();
      for (let i = 0; i < 5; i++) await client().messages.create(ask);
      await bridge.close();
      expect(readdirSync(join(dataDir, 'journal')).length).toBeGreaterThan(0);

      db = await startEmbedded(dbDir, () => {}, { port });
      bridge = await startTestBridge(store, overrides);
      await waitUntil(async () => (await count().catch(() => 0)) === 25, 30_000);
      await waitUntil(() => readdirSync(join(dataDir, 'journal')).length === 0, 10_000);
      expect(await store.db.collection(COLLECTIONS.userPrompts).countDocuments({})).toBe(25);
    } finally {
      await bridge.close();
      await upstream.close();
      await store.close();
      await db.stop();
    }
  }, 120_000);
});
