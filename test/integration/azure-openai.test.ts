import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { manifest, type UpstreamRequest } from '../helpers/upstream.ts';

/**
 * The `azure-openai` kind over HTTP with the official `openai` SDK's `AzureOpenAI` client (the
 * dated deployment routes and the v1 API) and its plain client on v1. The upstream checks what
 * Azure checks: an `api-key` it issued, an `api-version` on the dated routes, a deployment that
 * exists; and answers its refusals in Azure's shape.
 */

const facts = manifest();
const AZURE_KEY = 'azure-upstream-key-0001';
const DEPLOYMENT = 'gpt4o-prod';
const API_VERSION = '2024-10-21';

let h: Harness;
let mcp: TestMcpServer;

/** Azure's error JSON. */
const azureError = (status: number, code: string, message: string) => ({
  status,
  body: JSON.stringify({ error: { code, message } }),
});

/** What Azure OpenAI refuses before it answers: an unknown key, a missing api-version, an unknown deployment. */
function azureGate(request: UpstreamRequest) {
  const url = new URL(request.path, 'http://azure.invalid');
  if (!url.pathname.startsWith('/openai/')) return undefined; // the openai provider's calls share this upstream
  if (request.headers['api-key'] !== AZURE_KEY) {
    return azureError(401, '401', 'Access denied due to invalid subscription key or wrong API endpoint.');
  }
  const dated = !url.pathname.startsWith('/openai/v1/');
  if (dated && !url.searchParams.get('api-version')) return azureError(404, '404', 'Resource not found');
  const deployment = url.pathname.startsWith('/openai/deployments/')
    ? decodeURIComponent(url.pathname.split('/')[3] ?? '')
    : request.method === 'POST'
      ? request.json?.model
      : DEPLOYMENT;
  if (deployment !== DEPLOYMENT) {
    return azureError(404, 'DeploymentNotFound', 'The API deployment for this resource does not exist.');
  }
  return undefined;
}

beforeAll(async () => {
  mcp = await startTestMcpServer({ extraTools: 0 });
  h = await startHarness('azure-openai', (url) => ({
    providers: [
      { name: 'openai', type: 'openai', base_url: `${url}/v1`, api_key: 'sk-upstream-openai-key' },
      {
        name: 'azure',
        type: 'azure-openai',
        base_url: url,
        api_key: AZURE_KEY,
        deployments: [{ name: DEPLOYMENT, model: 'gpt-4o' }],
      },
      { name: 'azure-wrong-key', type: 'azure-openai', base_url: url, api_key: 'not-a-key-azure-issued' },
    ],
    models: [
      {
        alias: 'spill',
        targets: [
          { provider: 'azure', model: DEPLOYMENT },
          { provider: 'openai', model: 'gpt-4.1' },
        ],
      },
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
  }));
});

afterAll(async () => {
  await h?.close();
  await mcp?.stop();
});

beforeEach(() => {
  h.upstream.reset();
  h.upstream.gate = azureGate;
});

/** The AzureOpenAI client as Azure's documents set it up: the resource endpoint, its key, an API version. */
const dated = (apiKey = h.token, provider = 'azure') =>
  new AzureOpenAI({ endpoint: `${h.bridge.url}/${provider}`, apiKey, apiVersion: API_VERSION, maxRetries: 0 });

const messages = [{ role: 'user' as const, content: 'Say hello' }];

/** Every call reached Azure with the configured key and nothing of the bridge token. */
function expectAzureCalls(paths: string[]) {
  expect(h.upstream.requests.map((r) => r.path)).toEqual(paths);
  for (const r of h.upstream.requests) {
    expect(r.headers['api-key']).toBe(AZURE_KEY);
    expect(r.headers.authorization).toBeUndefined();
    expect(JSON.stringify(r.headers) + r.body).not.toContain(h.token);
  }
}

describe('the dated API through AzureOpenAI', () => {
  it('chat on a deployment: the token sent as api-key, the deployment called with its api-version, priced as its model', async () => {
    h.upstream.enqueue('openai-chat/text.json');
    const completion = await dated().chat.completions.create({ model: DEPLOYMENT, messages });
    expect(completion.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    expectAzureCalls([`/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`]);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider: 'azure-openai',
      provider_name: 'azure',
      model: DEPLOYMENT,
      status: 'completed',
    });
    // deployments: says it runs gpt-4o, so it costs what gpt-4o costs.
    const usage = r.tokens[0];
    const expected = h.bridge.ctx.prices.cost('gpt-4o', 'openai', usage);
    expect(expected).not.toBeNull();
    expect(r.interception.cost_usd).toBeCloseTo(expected as number, 12);
  });

  it('streaming chat with an injected tool: both calls go to the deployment, the client sees one clean stream', async () => {
    h.upstream.enqueue('openai-chat/injected-tool.sse', 'openai-chat/after-tool.sse');
    const stream = await dated().chat.completions.create({ model: DEPLOYMENT, messages, stream: true });
    let text = '';
    const seen: string[] = [];
    for await (const chunk of stream) {
      seen.push(JSON.stringify(chunk));
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(seen.join('')).not.toContain('bmcp_');
    expect(text).toBe(facts['openai-chat/after-tool.sse']!.text);
    const path = `/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`;
    expectAzureCalls([path, path]);
    expect(h.upstream.requests[0]!.json.tools[0].function.name).toBe('bmcp_test_echo');
    const r = await h.records();
    expect(r.tools).toEqual([expect.objectContaining({ tool: 'echo', injected: true, invocation_error: null })]);
  });

  it('responses on /openai/responses with its api-version', async () => {
    h.upstream.enqueue('openai-responses/text.json');
    const response = await dated().responses.create({ model: DEPLOYMENT, input: 'Say hello' });
    expect(response.output_text).toBe(facts['openai-responses/text.json']!.text);
    expectAzureCalls([`/openai/responses?api-version=${API_VERSION}`]);
    expect((await h.records()).interception).toMatchObject({ provider: 'azure-openai', model: DEPLOYMENT });
  });
});

describe('the v1 API', () => {
  it('AzureOpenAI on /openai/v1: a streamed response', async () => {
    h.upstream.enqueue('openai-responses/text.sse');
    const client = new AzureOpenAI({
      baseURL: `${h.bridge.url}/azure/openai/v1`,
      apiKey: h.token,
      apiVersion: 'preview',
      maxRetries: 0,
    });
    const stream = await client.responses.create({ model: DEPLOYMENT, input: 'Say hello', stream: true });
    let text = '';
    for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(text).toBe(facts['openai-responses/text.sse']!.text);
    expectAzureCalls(['/openai/v1/responses?api-version=preview']);
  });

  it('the plain OpenAI client on /openai/v1, its token as a Bearer: chat completions', async () => {
    h.upstream.enqueue('openai-chat/text.json');
    const client = new OpenAI({ baseURL: `${h.bridge.url}/azure/openai/v1`, apiKey: h.token, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: DEPLOYMENT, messages });
    expect(completion.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    expectAzureCalls(['/openai/v1/chat/completions']);
    expect(h.upstream.requests[0]!.json.model).toBe(DEPLOYMENT);
  });
});

describe("Azure's error shapes and the bridge's own refusals", () => {
  it('an unknown token: 401 in Azure’s shape, which the SDK raises as AuthenticationError; Azure is not asked', async () => {
    const err = await dated('aib_not-a-token')
      .chat.completions.create({ model: DEPLOYMENT, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const res = await fetch(
      `${h.bridge.url}/azure/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: '401', message: expect.stringMatching(/missing credentials/) } });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('a key Azure refuses is the bridge’s problem: 502 saying so, Azure’s words only in the log', async () => {
    const err = await dated(h.token, 'azure-wrong-key')
      .chat.completions.create({ model: DEPLOYMENT, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as Error).message).toMatch(/refused the bridge's own credentials/);
    expect((err as Error).message).not.toMatch(/subscription key/);
    expect(h.bridge.logs.text).toMatch(/subscription key/);
    expect(h.bridge.logs.text).not.toContain('not-a-key-azure-issued');
  });

  it('an alias from a rate-limited deployment to the openai provider: the client’s api-key (its bridge token) never goes upstream', async () => {
    h.upstream.keyAnswers.set(AZURE_KEY, { status: 429, retryAfter: '5' });
    h.upstream.enqueue('openai-chat/text.json');
    const completion = await dated().chat.completions.create({ model: 'spill', messages });
    expect(completion.choices[0]?.message.content).toBe(facts['openai-chat/text.json']!.text);
    const [azure, openai] = h.upstream.requests as [UpstreamRequest, UpstreamRequest];
    expect(azure.path).toBe(`/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`);
    expect(openai.path).toBe('/v1/chat/completions');
    expect(openai.json.model).toBe('gpt-4.1');
    expect(openai.headers.authorization).toBe('Bearer sk-upstream-openai-key');
    expect(openai.headers['api-key']).toBeUndefined();
    for (const r of h.upstream.requests) expect(JSON.stringify(r.headers) + r.body).not.toContain(h.token);
    const r = await h.records();
    expect(r.interception).toMatchObject({
      provider: 'openai',
      provider_name: 'openai',
      model: 'gpt-4.1',
      requested_model: 'spill',
      attempts: [
        { provider_name: 'azure', model: DEPLOYMENT, status: 429, error: 'upstream answered 429' },
        { provider_name: 'openai', model: 'gpt-4.1', status: 200, error: null },
      ],
    });
  });
});
