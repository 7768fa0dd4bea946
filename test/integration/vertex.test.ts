import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicVertex from '@anthropic-ai/vertex-sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { InterceptionDetail } from '../../src/store/store.ts';
import { FakeVertex, type TestServiceAccount, writeServiceAccount } from '../helpers/fake-vertex.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * The bridge as a Vertex AI endpoint (README "Pointing clients at the bridge"), over HTTP, with the
 * Anthropic Vertex SDK as client, a real MCP server whose tool is injected, and a fake Google
 * (token endpoint and Vertex) that accepts only access tokens it issued to a trusted key.
 */

const PROJECT = 'test-project';
const MODEL = 'claude-sonnet-4-5@20250929';
const facts = manifest();
const CALL = facts['anthropic-messages/injected-tool.json']!;
const AFTER = facts['anthropic-messages/after-tool.json']!;
const CALL_SSE = facts['anthropic-messages/injected-tool.sse']!;
const AFTER_SSE = facts['anthropic-messages/after-tool.sse']!;
const TEXT_SSE = facts['anthropic-messages/text.sse']!;
const ASK = { model: MODEL, max_tokens: 512, messages: [{ role: 'user' as const, content: 'Echo something' }] };
const newDir = tempDirs('aibridge-vertex-');

let h: Harness;
let fake: FakeVertex;
let mcp: TestMcpServer;
let account: TestServiceAccount;
let revocable: TestServiceAccount;

beforeAll(async () => {
  fake = await FakeVertex.start({ project: PROJECT });
  const dir = newDir();
  account = writeServiceAccount(dir, fake.tokenUri, { project: PROJECT });
  revocable = writeServiceAccount(dir, fake.tokenUri, { name: 'revocable', project: PROJECT });
  const stranger = writeServiceAccount(dir, fake.tokenUri, { name: 'stranger', project: PROJECT });
  fake.trust(account);
  fake.trust(revocable);
  mcp = await startTestMcpServer({ extraTools: 0 });
  const vertex = (name: string, region: string, file: string) => ({
    name,
    type: 'vertex',
    project: PROJECT,
    region,
    base_url: fake.url,
    credentials_file: file,
  });
  h = await startHarness('vertex', {
    providers: [
      vertex('vertex', 'us-east5', account.file),
      vertex('vertex-global', 'global', account.file),
      vertex('vertex-revocable', 'us-east5', revocable.file),
      vertex('vertex-stranger', 'us-east5', stranger.file),
      vertex('vertex-no-file', 'us-east5', join(dir, 'missing.json')),
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  await mcp?.stop();
});

beforeEach(() => fake.reset());

/**
 * The Anthropic Vertex SDK as Claude Code sets it up with CLAUDE_CODE_SKIP_VERTEX_AUTH: the bridge
 * token as its bearer; its own project and region are whatever it was told.
 */
const vertexClient = (token = h.token, provider = 'vertex', region = 'europe-west1') =>
  new AnthropicVertex({
    region,
    projectId: 'the-clients-own-project',
    baseURL: `${h.bridge.url}/${provider}/v1`,
    authClient: { getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }) } as never,
    maxRetries: 0,
  });

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function recordedSince(since: Date): Promise<InterceptionDetail> {
  let found: InterceptionDetail | undefined;
  await waitUntil(async () => {
    await h.bridge.ctx.recorder.flush();
    const rows = await h.store.audit.list({ started_after: new Date(since.getTime() - 1) }, { limit: 10 });
    found = rows.length === 1 && rows[0]!.interception.ended_at !== null ? rows[0] : undefined;
    return found !== undefined;
  });
  return found as InterceptionDetail;
}

const usageOf = (t: any) => ({
  input_tokens: t.input_tokens,
  output_tokens: t.output_tokens,
  cache_read_input_tokens: t.cache_read_input_tokens,
  cache_write_input_tokens: t.cache_write_input_tokens,
});

/** Two upstream calls, each with a token the fake issued, on the configured project and region. */
function expectAuthorisedLoop(method: 'rawPredict' | 'streamRawPredict') {
  expect(fake.requests).toHaveLength(2);
  const [call1, call2] = fake.requests as [any, any];
  for (const call of [call1, call2]) {
    expect(call).toMatchObject({
      project: PROJECT,
      location: 'us-east5',
      model: MODEL,
      specifier: method,
      email: account.email,
      refused: undefined,
    });
    expect(call.json).not.toHaveProperty('model');
    expect(JSON.stringify(call.headers) + call.body).not.toContain(h.token);
  }
  expect(call1.json.tools.map((t: any) => t.name)).toEqual(['bmcp_test_echo']);
  expect(JSON.stringify(call2.json.messages.at(-1))).toContain('hello from the model');
}

function expectLoopRecords(r: InterceptionDetail, usages: unknown[], cost: number) {
  expect(r.interception).toMatchObject({
    provider: 'vertex',
    provider_name: 'vertex',
    model: MODEL,
    initiator_id: h.userId,
    status: 'completed',
    cost_usd: cost,
  });
  expect(r.token_usages.map(usageOf)).toEqual(usages);
  expect(r.tool_usages).toEqual([
    expect.objectContaining({ tool: 'echo', injected: true, server_url: mcp.url, invocation_error: null }),
  ]);
}

describe('the Anthropic Vertex SDK with the bridge token', () => {
  it(':rawPredict: the injected tool runs between two authorised calls; one answer, recorded and priced', async () => {
    fake.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const since = new Date();
    const message = await vertexClient().messages.create(ASK);
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toContain(AFTER.text);
    expectAuthorisedLoop('rawPredict');
    // One token serves both calls (none at all when an earlier test of this file fetched it).
    expect(fake.tokenRequests.length).toBeLessThanOrEqual(1);
    for (const t of fake.tokenRequests) expect(t).toEqual({ email: account.email, error: undefined });
    // us-east5 is a regional endpoint: claude-sonnet-4-5's regional row, $3.30 in and $16.50 out per million.
    // (437 × 3.3 + 64 × 16.5) / 1e6 + (541 × 3.3 + 15 × 16.5) / 1e6
    expectLoopRecords(await recordedSince(since), [CALL.usage, AFTER.usage], 0.0045309);
  });

  it(':streamRawPredict: SSE to the client, the injected call hidden', async () => {
    fake.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const since = new Date();
    const stream = vertexClient().messages.stream(ASK);
    const message = await stream.finalMessage();
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual([CALL_SSE.text, AFTER_SSE.text]);
    expectAuthorisedLoop('streamRawPredict');
    // (439 × 3.3 + 64 × 16.5) / 1e6 + (543 × 3.3 + 15 × 16.5) / 1e6
    expectLoopRecords(await recordedSince(since), [CALL_SSE.usage, AFTER_SSE.usage], 0.0045441);
  });

  it('on the global endpoint bills Anthropic rates', async () => {
    fake.enqueue('anthropic-messages/text.sse');
    const since = new Date();
    await vertexClient(h.token, 'vertex-global', 'global').messages.stream(ASK).finalMessage();
    expect(fake.requests[0]).toMatchObject({ location: 'global', email: account.email });
    const r = await recordedSince(since);
    expect(r.interception).toMatchObject({ provider: 'vertex', provider_name: 'vertex-global', model: MODEL });
    expect(r.token_usages.map(usageOf)).toEqual([TEXT_SSE.usage]);
    expect(r.interception.cost_usd).toBe(0.000219); // (13 × 3 + 12 × 15) / 1e6
  });

  it('counts tokens through to count-tokens:rawPredict', async () => {
    const counted = await vertexClient().messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      project: PROJECT,
      location: 'us-east5',
      model: 'count-tokens',
      email: account.email,
      json: { model: MODEL },
    });
  });
});

describe('errors in Google JSON', () => {
  const post = (path: string, headers: Record<string, string>, body: unknown = { ...ASK, model: undefined }) =>
    fetch(`${h.bridge.url}/vertex/v1/projects/p/locations/us-east5/publishers/anthropic/models/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('no or an unknown bridge token: 401 UNAUTHENTICATED, nothing upstream', async () => {
    const res = await post(`${MODEL}:rawPredict`, {});
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: { code: 401, status: 'UNAUTHENTICATED', message: expect.stringMatching(/missing credentials/) },
    });
    const sdk = await rejection(vertexClient('aib_unknown').messages.create(ASK));
    expect(sdk).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(sdk.error).toEqual({ error: expect.objectContaining({ code: 401, status: 'UNAUTHENTICATED' }) });
    expect(fake.requests).toEqual([]);
  });

  it('a method Vertex does not have here: 404 NOT_FOUND; a bad model or body: 400 INVALID_ARGUMENT', async () => {
    const auth = { authorization: `Bearer ${h.token}` };
    for (const path of [`${MODEL}:predict`, `${MODEL}:countTokens`, MODEL]) {
      const res = await post(path, auth);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as any).error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
    }
    const model = await post('bad%20model:rawPredict', auth);
    expect(model.status).toBe(400);
    expect(((await model.json()) as any).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const body = await rejection(vertexClient().messages.create({ ...ASK, messages: 'hi' as never }));
    expect(body).toBeInstanceOf(Anthropic.BadRequestError);
    expect(body.error.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(fake.requests).toEqual([]);
  });

  it("the upstream's RESOURCE_EXHAUSTED reaches the SDK as a rate-limit error", async () => {
    fake.enqueue({ status: 429, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded for aiplatform' });
    const err = await rejection(vertexClient().messages.create(ASK));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error).toMatchObject({
      code: 429,
      status: 'RESOURCE_EXHAUSTED',
      message: 'Quota exceeded for aiplatform',
    });
  });

  it('a member over budget: 429 RESOURCE_EXHAUSTED naming the limit', async () => {
    const member = await h.bridge.user('vertex-spender');
    await h.bridge.ctx.users.setBudget('vertex-spender', { usd: 0.000001, period: 'day' });
    fake.reset();
    // No call fits in a millionth of a dollar: refused before anything is sent.
    const err = await rejection(vertexClient(member.token).messages.create(ASK));
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.error.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' });
    expect(err.error.error.message).toMatch(/budget of \$0\.000001\/day would be exceeded for vertex-spender/);
    expect(fake.requests).toEqual([]);
  });

  it('a key the token endpoint refuses: 502 UNAVAILABLE, the cause only in the log', async () => {
    const err = await rejection(vertexClient(h.token, 'vertex-stranger').messages.create(ASK));
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.error.error).toMatchObject({ code: 502, status: 'UNAVAILABLE' });
    expect(err.error.error.message).toMatch(
      /^provider "vertex-stranger" could not get a Google access token; .*\(request id .+\)$/,
    );
    expect(h.bridge.logs.text).toMatch(/invalid_grant/);
    expect(h.bridge.logs.text).not.toContain('PRIVATE KEY');
    expect(fake.requests).toEqual([]);
  });

  it('no credentials file: 503 UNAVAILABLE', async () => {
    const err = await rejection(vertexClient(h.token, 'vertex-no-file').messages.create(ASK));
    expect(err.status).toBe(503);
    expect(err.error.error).toMatchObject({ code: 503, status: 'UNAVAILABLE' });
    expect(err.error.error.message).toMatch(/could not get a Google access token/);
  });

  it("a token Vertex stops accepting: the client hears the provider refused the bridge's credentials", async () => {
    fake.enqueue('anthropic-messages/text.json');
    await vertexClient(h.token, 'vertex-revocable').messages.create(ASK);
    fake.revoke(revocable.email);
    const err = await rejection(vertexClient(h.token, 'vertex-revocable').messages.create(ASK));
    expect(err.status).toBe(502);
    expect(err.error.error.message).toMatch(/^provider "vertex-revocable" refused the bridge's own credentials/);
    expect(fake.requests.map((r) => r.refused)).toEqual([undefined, 'UNAUTHENTICATED']);
    expect(h.bridge.logs.text).toMatch(/Request had invalid authentication credentials/);
  });
});
