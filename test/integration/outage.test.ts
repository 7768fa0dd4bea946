/**
 * A bad day (README, "Reliability"): while MongoDB is down, users seen recently keep being served, the
 * audit API answers 503 at once, and nothing is lost. And a poison record (a 17 MB prompt)
 * never blocks the records behind it, on either store.
 */
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { STORE_KINDS } from '../helpers/db.ts';
import { startHarness } from '../helpers/harness.ts';
import { startMongoServer } from '../helpers/mongo-server.ts';
import { freePort } from '../helpers/ports.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-outage-');
const ask = { model: 'claude-test-1', max_tokens: 8, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('MongoDB down', () => {
  it('keeps serving users seen recently, refuses unknown tokens with 503, and the audit API answers 503 at once', async () => {
    const port = await freePort();
    const dbDir = tempDir();
    let db = await startMongoServer(dbDir, () => {}, { port });
    const store = await openMongoStore(db.uri, 'outage', 5_000);
    await store.db.dropDatabase();
    const upstream = await ReplayUpstream.start();
    upstream.setDefault('anthropic-messages/text.json');
    const bridge = await startTestBridge(store, {
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-test' }],
    });
    try {
      const seen = await bridge.user('seen');
      const unseen = await bridge.user('unseen');
      const client = (token: string) =>
        new Anthropic({ baseURL: `${bridge.url}/anthropic`, apiKey: token, maxRetries: 0 });
      await client(seen.token).messages.create(ask);
      await db.stop();
      await new Promise((r) => setTimeout(r, 4_500)); // past the 4 s re-check: the store must be asked, and is down

      const served = await client(seen.token).messages.create(ask);
      expect(served.stop_reason).toBe('end_turn');
      const refused = await client(unseen.token)
        .messages.create(ask)
        .catch((err) => err);
      expect(refused).toBeInstanceOf(Anthropic.InternalServerError);
      expect(refused.status).toBe(503);
      expect(refused.message).toMatch(/authentication is temporarily unavailable/);

      const audit = await fetch(`${bridge.url}/api/v2/aibridge/interceptions`, {
        headers: { authorization: `Bearer ${seen.token}` },
      });
      expect(audit.status).toBe(503);
      expect(await audit.json()).toEqual({ message: 'the store is unavailable', detail: expect.any(String) });

      db = await startMongoServer(dbDir, () => {}, { port });
      await waitUntil(async () => (await store.audit.count({ initiator_id: seen.id }).catch(() => 0)) === 2, 30_000);
    } finally {
      await bridge.close();
      await upstream.close();
      await store.close();
      await db.stop();
    }
  }, 90_000);
});

describe.each(STORE_KINDS)('a poison record (%s store)', (kind) => {
  it('a 17 MB prompt is stored cut, and the 100 requests after it are all recorded', async () => {
    const h = await startHarness(`poison-${kind}`, {}, kind);
    try {
      h.upstream.setDefault('anthropic-messages/text.json');
      const huge = 'x'.repeat(17 * 1024 * 1024);
      await h.anthropic.messages.create({ ...ask, messages: [{ role: 'user', content: huge }] });
      for (let wave = 0; wave < 10; wave++) {
        await Promise.all(Array.from({ length: 10 }, () => h.anthropic.messages.create(ask)));
      }
      await waitUntil(async () => {
        await h.bridge.ctx.recorder.flush();
        return (await h.store.audit.count({ status: 'completed' })) === 101;
      }, 30_000);
      const [first] = await h.store.audit.list({}, { limit: 1, offset: 100 });
      const prompt = first?.user_prompts[0];
      expect(prompt?.truncated).toBe(true);
      expect(prompt?.original_bytes).toEqual({ prompt: huge.length });
      expect(Buffer.byteLength(prompt?.prompt ?? '')).toBeLessThanOrEqual(64 * 1024);
      expect(h.bridge.ctx.recorder.stats()).toMatchObject({ deadLettered: 0, dropped: 0 });
    } finally {
      await h.close();
    }
  }, 90_000);
});
