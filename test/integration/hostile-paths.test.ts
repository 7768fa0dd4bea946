import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { rawRequest } from '../helpers/raw-http.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('hostile-paths');
  h.upstream.setDefault('openai-passthrough/model.json');
});
afterAll(() => h.close());
beforeEach(() => h.upstream.reset());

const auth = () => ({ authorization: `Bearer ${h.token}`, 'content-type': 'application/json' });
const send = (method: string, path: string) =>
  rawRequest(h.bridge.url, path, { method, headers: auth(), body: method === 'GET' ? undefined : '{}' });

describe('paths are matched after decoding; dot segments and // never reach an upstream', () => {
  const traversals: Array<[string, string, 'openai' | 'anthropic' | 'none']> = [
    ['POST', '/openai/v1/responses/../chat/completions', 'openai'],
    ['POST', '/openai/v1/responses/%2e%2e/chat/completions', 'openai'],
    ['POST', '/openai/v1/responses/%2E%2E/chat/completions', 'openai'],
    ['POST', '/openai/v1/responses/.%2E/chat/completions', 'openai'],
    ['POST', '/openai/v1/responses/%252e%252e/chat/completions', 'openai'], // double-encoded
    ['POST', '/openai/v1/responses/./x', 'openai'],
    ['DELETE', '/openai/v1/conversations/../files/file-123', 'openai'],
    ['DELETE', '/openai/v1/conversations/%2e%2e%2ffiles%2ffile-123', 'openai'],
    ['GET', '/anthropic/v1/models/../message_batches', 'anthropic'],
    ['GET', '/anthropic/v1/models/..%5cmessage_batches', 'anthropic'], // backslash
    ['GET', '/openai//v1/models', 'openai'],
    ['GET', '/openai/v1//models', 'openai'],
    ['GET', '/api/v2/aibridge/openai/v1/models/../../v1/files', 'openai'],
    ['GET', '/api/v2/ai-gateway/anthropic/v1/models/%2e%2e/message_batches', 'anthropic'],
    ['GET', '/api/v2/aibridge/interceptions/../users', 'none'],
    ['GET', '/openai/v1/models/%zz', 'openai'], // malformed encoding
  ];

  it.each(traversals)('%s %s → 400 in the caller format', async (method, path, format) => {
    const res = await send(method, path);
    expect(res.status).toBe(400);
    if (format === 'openai') expect(res.json).toMatchObject({ error: { type: 'invalid_request_error' } });
    if (format === 'anthropic')
      expect(res.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    if (format === 'none') expect(res.json).toEqual({ message: expect.stringContaining('segment') });
    expect(h.upstream.requests).toEqual([]);
  });
});

describe('passthrough is a list of exact route shapes', () => {
  it.each([
    ['GET', '/openai/v1/models/a/b'],
    ['GET', '/openai/v1/models/'],
    ['POST', '/openai/v1/models'],
    ['DELETE', '/openai/v1/models/gpt-4.1'],
    ['GET', '/openai/v1/files'],
    ['GET', '/openai/v1/responses/resp_1/input_items/extra'],
    ['DELETE', '/openai/v1/responses/resp_1/input_items'],
    ['GET', '/openai/v1/conversations'],
    ['GET', '/anthropic/v1/message_batches'],
    ['GET', '/anthropic/v1/messages/count_tokens'],
    ['POST', '/anthropic/v1/models/claude/x'],
  ])('%s %s → 404 naming method and path, nothing forwarded', async (method, path) => {
    const res = await send(method, path);
    expect(res.status).toBe(404);
    expect(res.text).toContain(`no route for ${method} ${path}`);
    expect(h.upstream.requests).toEqual([]);
  });

  it.each([
    ['GET', '/openai/v1/models', '/v1/models'],
    ['GET', '/openai/v1/models/gpt-4.1', '/v1/models/gpt-4.1'],
    ['GET', '/openai/v1/responses/resp_1', '/v1/responses/resp_1'],
    ['DELETE', '/openai/v1/responses/resp_1', '/v1/responses/resp_1'],
    ['GET', '/openai/v1/responses/resp_1/input_items?limit=5', '/v1/responses/resp_1/input_items?limit=5'],
    ['POST', '/openai/v1/responses/resp_1/cancel', '/v1/responses/resp_1/cancel'],
    ['POST', '/openai/v1/responses/input_tokens', '/v1/responses/input_tokens'],
    ['POST', '/openai/v1/conversations', '/v1/conversations'],
    ['POST', '/openai/v1/conversations/conv_1', '/v1/conversations/conv_1'],
    ['GET', '/openai/v1/conversations/conv_1/items', '/v1/conversations/conv_1/items'],
    ['DELETE', '/openai/v1/conversations/conv_1/items/item_1', '/v1/conversations/conv_1/items/item_1'],
    ['GET', '/anthropic/v1/models/claude-x', '/v1/models/claude-x'],
    ['POST', '/anthropic/v1/messages/count_tokens', '/v1/messages/count_tokens'],
    ['GET', '/api/v2/aibridge/openai/v1/models', '/v1/models'],
    ['DELETE', '/api/v2/ai-gateway/openai/v1/conversations/conv_1', '/v1/conversations/conv_1'],
  ])('%s %s reaches the upstream as %s', async (method, path, upstreamPath) => {
    const res = await send(method, path);
    expect(res.status).toBe(200);
    expect(h.upstream.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`${method} ${upstreamPath}`]);
  });
});

describe('the /api/v2/ai-gateway/ prefix (Coder AI Gateway)', () => {
  it('serves bridged provider routes and the audit API', async () => {
    h.upstream.enqueue('anthropic-messages/text.json');
    const client = new Anthropic({ baseURL: `${h.bridge.url}/api/v2/ai-gateway/anthropic`, apiKey: h.token });
    const message = await client.messages.create({
      model: 'claude-test-1',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(message.stop_reason).toBe('end_turn');
    await h.records();
    const list = await fetch(`${h.bridge.url}/api/v2/ai-gateway/interceptions?q=me`, { headers: auth() });
    expect(list.status).toBe(200);
    expect((await list.json()).count).toBeGreaterThanOrEqual(1);
  });
});
