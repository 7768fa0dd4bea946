import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { manifest, type UpstreamRequest } from '../helpers/upstream.ts';

/**
 * The `openai-compatible` kind over HTTP with the official `openai` SDK: a local server that
 * takes no key (an Ollama or a vLLM) with the extra headers its operator set, and one that
 * takes a key (an OpenRouter). Their models have no shipped price: recorded as null cost, and
 * refused to a budgeted user until an owner prices them.
 */

const facts = manifest();
const LOCAL_MODEL = 'llama3.1:8b';

let h: Harness;
let budgeted: OpenAI;

/** What a local server checks: only the routes it serves (no Responses API here), and no key at all. */
function localGate(request: UpstreamRequest) {
  if (!request.path.startsWith('/local/')) return undefined;
  if (request.path.startsWith('/local/v1/responses')) {
    return { status: 404, body: JSON.stringify({ error: { message: '404 page not found', type: 'not_found' } }) };
  }
  return undefined;
}

beforeAll(async () => {
  h = await startHarness('openai-compatible', (url) => ({
    providers: [
      { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_key: 'sk-upstream-openai-key' },
      {
        name: 'local',
        type: 'openai-compatible',
        base_url: `${url}/local/v1`,
        headers: { 'X-Title': 'aibridge tests', 'HTTP-Referer': 'https://aibridge.example' },
      },
      { name: 'router', type: 'openai-compatible', base_url: `${url}/router/api/v1`, api_key: 'sk-or-router-key' },
    ],
    budgets: { auditor: { usd: 5, period: 'day' } },
  }));
  const auditor = await h.bridge.user('auditor-with-budget', 'auditor');
  budgeted = new OpenAI({ baseURL: `${h.bridge.url}/local/v1`, apiKey: auditor.token, maxRetries: 0 });
});

afterAll(() => h?.close());

beforeEach(() => {
  h.upstream.reset();
  h.upstream.gate = localGate;
});

const local = () => new OpenAI({ baseURL: `${h.bridge.url}/local/v1`, apiKey: h.token, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Say hello' }];

describe('an OpenAI-compatible server', () => {
  it('without a key: nothing in Authorization upstream, the configured headers sent, recorded at a null cost', async () => {
    h.upstream.enqueue('openai-chat/text.sse');
    const stream = await local().chat.completions.create({ model: LOCAL_MODEL, messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(facts['openai-chat/text.sse']!.text);
    const sent = h.upstream.requests[0]!;
    expect(sent.path).toBe('/local/v1/chat/completions');
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.headers['x-title']).toBe('aibridge tests');
    expect(sent.headers['http-referer']).toBe('https://aibridge.example');
    expect(JSON.stringify(sent.headers)).not.toContain(h.token);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider: 'openai-compatible',
      provider_name: 'local',
      model: LOCAL_MODEL,
      status: 'completed',
      cost_usd: null,
    });
    expect(r.tokens[0].cost_usd).toBeNull();
  });

  it('with a key: sent as a Bearer, under the base URL’s own path', async () => {
    h.upstream.enqueue('openai-chat/text.json');
    const client = new OpenAI({ baseURL: `${h.bridge.url}/router/v1`, apiKey: h.token, maxRetries: 0 });
    await client.chat.completions.create({ model: 'meta-llama/llama-3.1-8b-instruct', messages });
    expect(h.upstream.requests[0]).toMatchObject({ path: '/router/api/v1/chat/completions' });
    expect(h.upstream.requests[0]!.headers.authorization).toBe('Bearer sk-or-router-key');
  });

  it('the Responses API where the server has none: its own 404 reaches the client', async () => {
    const err = await local()
      .responses.create({ model: LOCAL_MODEL, input: 'Say hello' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(h.upstream.requests.map((r) => r.path)).toEqual(['/local/v1/responses']);
  });

  it('its models list is passed through', async () => {
    h.upstream.enqueue('openai-passthrough/models.json');
    const models = await local().models.list();
    expect(models.data.length).toBeGreaterThan(0);
    expect(h.upstream.requests[0]!.path).toBe('/local/v1/models');
  });

  it('a budgeted user asking for an unpriced model is refused (budgets.unpriced), naming the model', async () => {
    const err = await budgeted.chat.completions.create({ model: LOCAL_MODEL, messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as Error).message).toContain(`model ${LOCAL_MODEL} has no price`);
    expect(h.upstream.requests).toHaveLength(0);
  });
});
