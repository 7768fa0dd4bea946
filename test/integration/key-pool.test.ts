import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startFileBridge } from '../helpers/bridge.ts';
import { testEmbeddedStore } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest, ReplayUpstream } from '../helpers/upstream.ts';

/**
 * Key pools (README "Key pools"): the real bridge over HTTP with `api_keys` on its openai and
 * anthropic providers, in front of an upstream that answers each key its own way (429 with
 * retry-after, 500, silence, 401). Whatever the keys do, the official SDKs (no retries of their
 * own) see one clean answer or one clear refusal.
 */

const KEYS = ['sk-pool-key-one', 'sk-pool-key-two', 'sk-pool-key-three'];
const facts = manifest();
const chat = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Say hello' }] };
const newDir = tempDirs('aibridge-key-pool-');

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A bridge whose providers each have the pool KEYS; a silent key is given up on after a second. */
async function start(): Promise<Harness> {
  h = await startHarness('key-pool', (url) => ({
    providers: [
      { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_keys: KEYS },
      { name: 'anthropic', type: 'anthropic', base_url: url, api_keys: KEYS },
    ],
    limits: { upstream_timeout: '1s' },
  }));
  return h;
}

const keysSent = (harness: Harness) => harness.upstream.requests.map((r) => r.key);

describe('key pools', () => {
  it('blocking: a key answered 429 cools down and the next key answers; the SDK sees one clean completion', async () => {
    const b = await start();
    b.upstream.keyAnswers.set(KEYS[0]!, { status: 429, retryAfter: '120' });
    b.upstream.setDefault('openai-chat/text.json');
    const completion = await b.openai.chat.completions.create(chat);
    expect(completion.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    expect(keysSent(b)).toEqual([KEYS[0], KEYS[1]]);
    const r = await b.records();
    expect(r.interception).toMatchObject({
      status: 'completed',
      provider_name: 'openai',
      model: 'gpt-4.1',
      requested_model: 'gpt-4.1',
      key_source: 'shared',
      attempts: [{ provider_name: 'openai', model: 'gpt-4.1', status: 200, error: null }],
    });

    // In turn from the key after the one that answered; the cooling key is skipped until its retry-after passes.
    await b.openai.chat.completions.create(chat);
    await b.openai.chat.completions.create(chat);
    expect(keysSent(b).slice(2)).toEqual([KEYS[2], KEYS[1]]);

    const scrape = await scrapeMetrics(b.bridge.url);
    expect(scrape.value('aibridge_key_pool_failovers_total', { provider: 'openai', reason: 'rate_limited' })).toBe(1);
    expect(scrape.value('aibridge_key_pool_keys', { provider: 'openai', state: 'cooling' })).toBe(1);
    expect(scrape.value('aibridge_key_pool_keys', { provider: 'openai', state: 'active' })).toBe(2);
    expect(scrape.value('aibridge_key_pool_exhaustions_total', { provider: 'openai' })).toBe(0);
    for (const key of KEYS) expect(b.bridge.logs.text).not.toContain(key);
  });

  it('streaming: past a 500 and a key that never answers, the third key streams; the client saw nothing of them', async () => {
    const b = await start();
    b.upstream.keyAnswers.set(KEYS[0]!, { status: 500 });
    b.upstream.keyAnswers.set(KEYS[1]!, { hang: true });
    b.upstream.setDefault('anthropic-messages/text.sse');
    const stream = b.anthropic.messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Say hello' }],
    });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const message = await stream.finalMessage();
    const text = message.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
    expect(text).toBe(facts['anthropic-messages/text.sse']!.text);
    expect(events[0]).toBe('message_start');
    expect(events.filter((e) => e === 'message_start')).toHaveLength(1);
    expect(keysSent(b)).toEqual(KEYS);
    const r = await b.records();
    expect(r.interception).toMatchObject({ status: 'completed', key_source: 'shared' });
    expect(r.tokens).toHaveLength(1);

    const scrape = await scrapeMetrics(b.bridge.url);
    expect(scrape.value('aibridge_key_pool_failovers_total', { provider: 'anthropic', reason: 'server_error' })).toBe(
      1,
    );
    expect(scrape.value('aibridge_key_pool_failovers_total', { provider: 'anthropic', reason: 'timeout' })).toBe(1);
    expect(scrape.value('aibridge_key_pool_keys', { provider: 'anthropic', state: 'cooling' })).toBe(2);
  });

  it('a key the upstream refuses (401) is set aside, logged once by its place and never its value, and not tried again', async () => {
    const b = await start();
    b.upstream.acceptedKeys = new Set(KEYS.slice(1));
    b.upstream.setDefault('openai-chat/text.json');
    for (let i = 0; i < 4; i++) await b.openai.chat.completions.create(chat);
    expect(keysSent(b)).toEqual([KEYS[0], KEYS[1], KEYS[2], KEYS[1], KEYS[2]]);
    const setAside = b.bridge.logs.lines.filter((line) => line.includes('set aside'));
    expect(setAside).toHaveLength(1);
    expect(JSON.parse(setAside[0]!)).toMatchObject({
      provider: 'openai',
      key: 'providers[0].api_keys[0]',
      status: 401,
    });
    for (const key of KEYS) expect(b.bridge.logs.text).not.toContain(key);
    const scrape = await scrapeMetrics(b.bridge.url);
    expect(scrape.value('aibridge_key_pool_keys', { provider: 'openai', state: 'refused' })).toBe(1);
    expect(scrape.value('aibridge_key_pool_failovers_total', { provider: 'openai', reason: 'refused' })).toBe(1);
  });

  it('every key cooling: one 429 in the provider format with the shortest wait, counted as an exhaustion', async () => {
    const b = await start();
    b.upstream.keyAnswers.set(KEYS[0]!, { status: 429, retryAfter: '30' });
    b.upstream.keyAnswers.set(KEYS[1]!, { status: 429, retryAfter: '10' });
    b.upstream.keyAnswers.set(KEYS[2]!, { status: 503 });
    const err = await b.openai.chat.completions.create(chat).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const limited = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limited.message).toMatch(/every key of provider "openai" is cooling down/);
    // The 503 key cools for the default 5 s, shorter than either retry-after.
    expect(Number(limited.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers?.get('retry-after'))).toBeLessThanOrEqual(5);
    expect(keysSent(b)).toEqual(KEYS);

    // While they cool, a request is refused at once: nothing more reaches the upstream.
    const again = await b.openai.chat.completions.create(chat).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(OpenAI.RateLimitError);
    expect(b.upstream.requests).toHaveLength(3);

    const r = await b.records();
    expect(r.interception.status).toBe('failed');
    const scrape = await scrapeMetrics(b.bridge.url);
    expect(scrape.value('aibridge_key_pool_exhaustions_total', { provider: 'openai' })).toBe(2);
    expect(scrape.value('aibridge_key_pool_keys', { provider: 'openai', state: 'cooling' })).toBe(3);
  });

  it('every key refused: 503 saying the upstream accepts none of them, never the keys', async () => {
    const b = await start();
    b.upstream.acceptedKeys = new Set();
    const err = await b.anthropic.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503 });
    expect((err as Error).message).toMatch(/has no key the upstream accepts/);
    for (const key of KEYS) expect((err as Error).message).not.toContain(key);
    expect(keysSent(b)).toEqual(KEYS);
  });

  it('a reload, even of an unchanged file, gives a key set aside another chance', async () => {
    const upstream = await ReplayUpstream.start();
    const store = testEmbeddedStore();
    const dir = newDir();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        listen: '127.0.0.1:0',
        data_dir: join(dir, 'data'),
        retention: 0,
        providers: [{ name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_keys: KEYS.slice(0, 2) }],
      }),
    );
    const bridge = await startFileBridge(store, file);
    try {
      const user = await bridge.user('dev');
      const client = new OpenAI({ baseURL: `${bridge.url}/openai/v1`, apiKey: user.token, maxRetries: 0 });
      upstream.setDefault('openai-chat/text.json');
      upstream.acceptedKeys = new Set([KEYS[1]!]);
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      // The operator fixes the first key where it was issued, and reloads.
      upstream.acceptedKeys = undefined;
      expect((await bridge.reload('test')).result).toBe('ok');
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      const sent = upstream.requests.map((r) => r.key);
      expect(sent.slice(0, 3)).toEqual([KEYS[0], KEYS[1], KEYS[1]]);
      expect(sent.slice(3)).toContain(KEYS[0]);
    } finally {
      await bridge.close();
      await store.close();
      await upstream.close();
    }
  });
});
