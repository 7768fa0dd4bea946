import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CREDENTIALS_KEY_ENV } from '../../src/identity/sealing.ts';
import { startTracing, type TracingHandle } from '../../src/observability/tracing.ts';
import { COLLECTIONS, type CollectionName } from '../../src/store/store.ts';
import { type Api, apiClient } from '../helpers/api.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { CLI, NODE, ROOT } from '../helpers/process.ts';
import { scrapeMetrics } from '../helpers/prometheus.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * Bring your own key (README "Bring your own key") over HTTP: users store their own key for a
 * provider through the API (or an owner through the CLI); the user's key reaches the upstream
 * and the shared one does not; `required` refuses users without one; budgets count own-key
 * requests unless `byok_budgets: false`; and the key shows up nowhere — logs, records, spans,
 * API answers, metrics.
 */

const facts = manifest();
const SHARED = 'sk-shared-openai-key-000';
const ALICE_OPENAI = 'sk-alice-own-openai-key-4f9c2e7a';
const ALICE_ANTHROPIC = 'sk-ant-alice-own-anthropic-key-81d3';
const CAROL_OWN = 'sk-carol-own-key-5b7e11';
const DAVE_CLI = 'sk-dave-from-the-cli-9a0c';
const SECRETS = [ALICE_OPENAI, ALICE_ANTHROPIC, CAROL_OWN, DAVE_CLI];
const chat = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Say hello' }] };
const newDir = tempDirs('aibridge-byok-');

let h: Harness;
let api: Api;
let exporter: InMemorySpanExporter;
let tracing: TracingHandle;
const users: Record<string, { id: string; token: string }> = {};

function providers(url: string) {
  return [
    { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_key: SHARED, byok: 'allowed' },
    { name: 'anthropic', type: 'anthropic', base_url: url, byok: 'required' },
    {
      name: 'openai-free',
      type: 'openai',
      base_url: `${url}/v1`,
      api_key: SHARED,
      byok: 'allowed',
      byok_budgets: false,
    },
    { name: 'plain', type: 'openai', base_url: `${url}/v1`, api_key: SHARED },
  ];
}

beforeAll(async () => {
  vi.stubEnv(CREDENTIALS_KEY_ENV, randomBytes(32).toString('base64'));
  exporter = new InMemorySpanExporter();
  tracing = await startTracing({ logs: true, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  h = await startHarness('byok', (url) => ({
    providers: providers(url),
    // Auditors may spend a millionth of a dollar a day: nothing, in practice.
    budgets: { auditor: { usd: 0.000001, period: 'day' } },
    tracing: { enabled: true, logs: true },
  }));
  for (const [name, role] of [
    ['alice', 'member'],
    ['bob', 'member'],
    ['carol', 'auditor'],
    ['dave', 'member'],
  ] as const) {
    users[name] = await h.bridge.user(name, role);
  }
  api = await apiClient(h.bridge.url);
});

afterAll(async () => {
  await h?.close();
  await tracing?.stop();
  vi.unstubAllEnvs();
});

beforeEach(() => h.upstream.reset());

const openai = (who: string, provider = 'openai') =>
  new OpenAI({ baseURL: `${h.bridge.url}/${provider}/v1`, apiKey: users[who]!.token, maxRetries: 0 });
const anthropic = (who: string) =>
  new Anthropic({ baseURL: `${h.bridge.url}/anthropic`, apiKey: users[who]!.token, maxRetries: 0 });
const store = (who: string, provider: string, key: string) =>
  api('PUT', `/users/me/provider-keys/${provider}`, { token: users[who]!.token, body: { key } });

describe("users' own keys", () => {
  it('are stored through the API and listed without their value', async () => {
    expect((await store('alice', 'openai', ALICE_OPENAI)).status).toBe(204);
    const list = await api('GET', '/users/me/provider-keys', { token: users.alice!.token, schema: 'ProviderKeyList' });
    expect(list.body.results).toEqual([
      { provider: 'openai', type: 'openai', byok: 'allowed', stored: true, updated_at: expect.any(String) },
      { provider: 'anthropic', type: 'anthropic', byok: 'required', stored: false, updated_at: null },
      { provider: 'openai-free', type: 'openai', byok: 'allowed', stored: false, updated_at: null },
    ]);
    expect((await store('alice', 'plain', ALICE_OPENAI)).status).toBe(400);
    expect((await store('alice', 'nowhere', ALICE_OPENAI)).status).toBe(404);
    expect((await store('alice', 'openai', 'has spaces in it')).status).toBe(400);
    expect((await store('alice', 'openai', users.alice!.token)).body.validations).toEqual([
      { field: 'key', detail: 'that is an AI Bridge token, not a key of the provider' },
    ]);
    // Sealed at rest: the document holds no trace of the key.
    const docs = await h.store.providerKeys.list(users.alice!.id);
    expect(docs).toHaveLength(1);
    expect(JSON.stringify(docs)).not.toContain(ALICE_OPENAI);
  });

  it("allowed: the user's own key reaches the upstream and the shared one does not; others get the shared key", async () => {
    h.upstream.setDefault('openai-chat/text.json');
    const mine = await openai('alice').chat.completions.create(chat);
    expect(mine.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    expect(h.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${ALICE_OPENAI}`);
    expect(JSON.stringify(h.upstream.requests[0]!.headers)).not.toContain(SHARED);
    expect((await h.records()).interception).toMatchObject({ key_source: 'user', requested_model: 'gpt-4.1' });

    await openai('bob').chat.completions.create(chat);
    expect(h.upstream.requests[1]!.headers.authorization).toBe(`Bearer ${SHARED}`);
    expect((await h.records()).interception).toMatchObject({ key_source: 'shared' });

    const scrape = await scrapeMetrics(h.bridge.url);
    expect(scrape.value('aibridge_interceptions_total', { initiator_id: users.alice!.id, key_source: 'user' })).toBe(1);
    expect(scrape.value('aibridge_interceptions_total', { initiator_id: users.bob!.id, key_source: 'shared' })).toBe(1);
  });

  it('required: a user without a key is refused with what to do; with one, it is what the upstream sees', async () => {
    const ask = { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user' as const, content: 'hi' }] };
    const err = await anthropic('bob')
      .messages.create(ask)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((err as Error).message).toMatch(/takes only your own key.*provider-keys\/anthropic/);
    expect(h.upstream.requests).toHaveLength(0);

    expect((await store('alice', 'anthropic', ALICE_ANTHROPIC)).status).toBe(204);
    h.upstream.setDefault('anthropic-messages/text.sse');
    const message = await anthropic('alice').messages.stream(ask).finalMessage();
    expect(message.content[0]).toMatchObject({ type: 'text', text: facts['anthropic-messages/text.sse']!.text });
    expect(h.upstream.requests[0]!.headers['x-api-key']).toBe(ALICE_ANTHROPIC);
    expect((await h.records()).interception).toMatchObject({ key_source: 'user', provider_name: 'anthropic' });
  });

  it('deleted, the shared key is used again at once', async () => {
    expect((await api('DELETE', '/users/me/provider-keys/openai', { token: users.alice!.token })).status).toBe(204);
    h.upstream.setDefault('openai-chat/text.json');
    await openai('alice').chat.completions.create(chat);
    expect(h.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${SHARED}`);
    await h.records();
  });

  it('budgets count own-key requests, unless the provider sets byok_budgets: false', async () => {
    await store('carol', 'openai', CAROL_OWN);
    await store('carol', 'openai-free', CAROL_OWN);
    h.upstream.setDefault('openai-chat/text.json');
    const counted = await openai('carol')
      .chat.completions.create(chat)
      .catch((e: unknown) => e);
    expect(counted).toBeInstanceOf(OpenAI.RateLimitError);
    expect((counted as Error).message).toMatch(/budget of/);
    const free = await openai('carol', 'openai-free').chat.completions.create(chat);
    expect(free.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    expect(h.upstream.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${CAROL_OWN}`]);
    await h.records();
  });

  it('an owner stores one for a user with the CLI, the key read from stdin', async () => {
    const dir = newDir();
    const config = join(dir, 'aibridge.yaml');
    writeFileSync(config, JSON.stringify({ data_dir: h.store.dataDir, providers: providers(h.upstream.url) }));
    const run = await new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(NODE, [CLI, 'provider-keys', 'set', 'dave', 'openai', '--config', config], {
        cwd: ROOT,
        env: { ...process.env },
        stdio: 'pipe',
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      child.on('close', (code) => done({ code, out }));
      child.stdin.end(`${DAVE_CLI}\n`);
    });
    expect(run.code, run.out).toBe(0);
    expect(run.out).not.toContain(DAVE_CLI);
    h.upstream.setDefault('openai-chat/text.json');
    await openai('dave').chat.completions.create(chat);
    expect(h.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${DAVE_CLI}`);
    await h.records();
  });

  it('no key is ever shown: not in logs, records, spans, API answers or metrics', async () => {
    await h.bridge.ctx.recorder.flush();
    const seen: string[] = [h.bridge.logs.text, await (await fetch(`${h.bridge.url}/metrics`)).text()];
    for (const name of Object.values(COLLECTIONS) as CollectionName[]) {
      seen.push(JSON.stringify(await h.store.documents.scan(name, null, 10_000)));
    }
    for (const who of ['alice', 'carol', 'dave']) {
      const token = users[who]!.token;
      seen.push(JSON.stringify((await api('GET', '/interceptions?q=initiator:me', { token })).body));
      seen.push(JSON.stringify((await api('GET', '/users/me/provider-keys', { token })).body));
    }
    const spans = exporter.getFinishedSpans();
    expect(spans.some((s) => s.name === 'Intercept.ProcessRequest.Upstream')).toBe(true);
    seen.push(JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events }))));
    const all = seen.join('\n');
    for (const secret of SECRETS) expect(all).not.toContain(secret);
  });
});
