import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InterceptingProxy } from '../../src/proxy/server.ts';
import { ANN, basic, type CountingMetrics, manifestText, PROXY_TOKEN, useInterceptingProxy } from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';

// The official SDKs with their default base URLs: only the proxy (and trust in the bridge's CA) is set.
const fixture = useInterceptingProxy(tempDirs('aibridge-proxy-sdk-'));
const { bridge } = fixture;
let proxy: InterceptingProxy;
let metrics: CountingMetrics;
let dispatcher: ProxyAgent;

beforeAll(async () => {
  ({ proxy, metrics } = await fixture.start());
  dispatcher = new ProxyAgent({
    uri: proxy.url,
    token: basic('ann', PROXY_TOKEN),
    requestTls: { ca: fixture.ca().certificatePem },
  });
});

afterAll(async () => {
  await dispatcher.close();
});

const lastRequest = () => bridge.requests.at(-1)!;

describe('@anthropic-ai/sdk through the proxy', () => {
  const client = () =>
    new Anthropic({
      apiKey: 'sk-ant-the-clients-own-key',
      baseURL: 'https://api.anthropic.com',
      fetchOptions: { dispatcher },
      maxRetries: 0,
    });

  it('gets a blocking answer, served as /anthropic/v1/messages for the proxy user', async () => {
    const message = await client().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(message.content[0]).toMatchObject({ type: 'text', text: manifestText('anthropic-messages/text.json') });
    expect(lastRequest()).toMatchObject({
      method: 'POST',
      url: '/anthropic/v1/messages',
      facts: { host: 'api.anthropic.com', provider: 'anthropic', principal: ANN },
    });
    expect(lastRequest().headers['anthropic-version']).toBeTruthy();
  });

  it('streams', async () => {
    const stream = client().messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hello' }],
    });
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(text).toBe(manifestText('anthropic-messages/text.sse'));
    expect(final.stop_reason).toBe('end_turn');
    expect(lastRequest().body.stream).toBe(true);
    expect(lastRequest().url).toBe('/anthropic/v1/messages');
  });
});

describe('openai through the proxy', () => {
  const client = () =>
    new OpenAI({
      apiKey: 'sk-the-clients-own-key',
      baseURL: 'https://api.openai.com/v1',
      fetchOptions: { dispatcher },
      maxRetries: 0,
    });

  it('gets a blocking answer, served as /openai/v1/chat/completions', async () => {
    const completion = await client().chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.choices[0]!.message.content).toBe(manifestText('openai-chat/text.json'));
    expect(lastRequest()).toMatchObject({
      url: '/openai/v1/chat/completions',
      facts: { host: 'api.openai.com', provider: 'openai', principal: ANN },
    });
  });

  it('streams, and every request was counted for its host', async () => {
    const stream = await client().chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe(manifestText('openai-chat/text.sse'));
    expect(lastRequest().body.stream).toBe(true);
    expect(metrics.mitm.get('api.openai.com')).toBe(2);
    expect(metrics.mitm.get('api.anthropic.com')).toBe(2);
  });
});
