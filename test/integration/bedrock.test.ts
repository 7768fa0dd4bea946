import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AnthropicBedrock from '@anthropic-ai/bedrock-sdk';
import Anthropic from '@anthropic-ai/sdk';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  CountTokensCommand,
  InternalServerException,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ModelStreamErrorException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { InterceptionDetail } from '../../src/store/store.ts';
import { FakeBedrock, TEST_AWS_KEY } from '../helpers/fake-bedrock.ts';
import { FakeSts } from '../helpers/fake-sts.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { startTestMcpServer, type TestMcpServer } from '../helpers/mcp-server.ts';
import { waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest } from '../helpers/upstream.ts';

/**
 * The bridge as a Bedrock endpoint (README "Pointing clients at the bridge"), over HTTP, with the
 * AWS SDK and the Anthropic Bedrock SDK as clients, a real MCP server whose tool is injected, and
 * a fake bedrock-runtime that checks every upstream call's SigV4 signature as AWS does.
 */

const REGION = 'us-east-1';
const facts = manifest();
const CALL = facts['anthropic-messages/injected-tool.json']!;
const AFTER = facts['anthropic-messages/after-tool.json']!;
const CALL_SSE = facts['anthropic-messages/injected-tool.sse']!;
const AFTER_SSE = facts['anthropic-messages/after-tool.sse']!;
const TEXT_SSE = facts['anthropic-messages/text.sse']!;
const GEO_PROFILE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const GLOBAL_PROFILE = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';
const FOUNDATION = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
const APP_PROFILE = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456';
const BODY = {
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 512,
  messages: [{ role: 'user', content: 'Echo something' }],
};
/** Everything an AWS variable could point the credential chain at, restored afterwards. */
const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL_STS',
];
const savedEnv = Object.fromEntries(AWS_VARIABLES.map((name) => [name, process.env[name]]));
const ROLE = 'arn:aws:iam::123456789012:role/bedrock-caller';
const MASTER = { accessKeyId: 'AKIAMASTERKEY0000001', secretAccessKey: 'master/secret/key/for/sts/only/000000000' };
const newDir = tempDirs('aibridge-bedrock-');

let h: Harness;
let fake: FakeBedrock;
let sts: FakeSts;
let mcp: TestMcpServer;

beforeAll(async () => {
  // The credential chain of the providers without keys must find nothing on this machine, and ask no metadata service.
  for (const name of AWS_VARIABLES) delete process.env[name];
  const empty = join(newDir(), 'empty');
  writeFileSync(empty, '');
  process.env.AWS_SHARED_CREDENTIALS_FILE = empty;
  process.env.AWS_CONFIG_FILE = empty;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  fake = await FakeBedrock.start({ region: REGION });
  sts = await FakeSts.start({ region: REGION, keys: [MASTER], roleArn: ROLE, externalId: 'the-right-one' });
  process.env.AWS_ENDPOINT_URL_STS = sts.url;
  mcp = await startTestMcpServer({ extraTools: 0 });
  const keys = { access_key_id: TEST_AWS_KEY.accessKeyId, secret_access_key: TEST_AWS_KEY.secretAccessKey };
  h = await startHarness('bedrock', {
    providers: [
      { name: 'bedrock', type: 'bedrock', region: REGION, base_url: fake.url, ...keys },
      {
        name: 'bedrock-bad-secret',
        type: 'bedrock',
        region: REGION,
        base_url: fake.url,
        ...keys,
        secret_access_key: 'wrong',
      },
      { name: 'bedrock-no-keys', type: 'bedrock', region: REGION, base_url: fake.url },
      {
        name: 'bedrock-refused-role',
        type: 'bedrock',
        region: REGION,
        base_url: fake.url,
        access_key_id: MASTER.accessKeyId,
        secret_access_key: MASTER.secretAccessKey,
        role_arn: ROLE,
        external_id: 'a-wrong-one',
      },
    ],
    mcp_servers: [{ name: 'test', url: mcp.url, tool_allow_regex: '^echo$' }],
    tool_loop: { max_iterations: 4, keepalive: '200ms' },
    pricing: [{ model: APP_PROFILE, input: 2, output: 8 }],
  });
});

afterAll(async () => {
  await h?.close();
  await fake?.close();
  await sts?.close();
  await mcp?.stop();
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

beforeEach(() => fake.reset());

/** The AWS SDK as `AWS_BEARER_TOKEN_BEDROCK` sets it up: the bridge token as a bearer token, over HTTP/1.1. */
const awsClient = (token = h.token, provider = 'bedrock') =>
  new BedrockRuntimeClient({
    region: REGION,
    endpoint: `${h.bridge.url}/${provider}`,
    token: { token },
    authSchemePreference: ['httpBearerAuth'],
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });

const anthropicBedrock = (apiKey = h.token, provider = 'bedrock') =>
  new AnthropicBedrock({ baseURL: `${h.bridge.url}/${provider}`, apiKey, awsRegion: REGION, maxRetries: 0 });

const decode = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes));

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** The one interception started since `since`, with its children, once it has ended. */
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

/** What every tool-loop run shows upstream: two calls, each signed anew by the configured key over its own body. */
function expectSignedLoop(first: string) {
  expect(fake.requests).toHaveLength(2);
  const [call1, call2] = fake.requests as [any, any];
  for (const call of [call1, call2]) {
    expect(call.refused).toBeUndefined();
    expect(call.accessKeyId).toBe(TEST_AWS_KEY.accessKeyId);
    expect(call.modelId).toBe(first);
    expect(call.json.anthropic_version).toBeDefined();
    expect(call.json).not.toHaveProperty('model');
    expect(call.json).not.toHaveProperty('stream');
    expect(JSON.stringify(call.headers) + call.body).not.toContain(h.token);
  }
  expect(call1.headers['x-amz-content-sha256']).not.toBe(call2.headers['x-amz-content-sha256']);
  expect(call1.json.tools.map((t: any) => t.name)).toEqual(['bmcp_test_echo']);
  const result = call2.json.messages.at(-1).content[0];
  expect(result).toMatchObject({ type: 'tool_result' });
  expect(JSON.stringify(result)).toContain('hello from the model');
  return { call1, call2 };
}

/** The records of one tool loop through Bedrock: the model as sent, both usages, the tool call, the cost. */
function expectLoopRecords(r: InterceptionDetail, model: string, usages: unknown[], cost: number | null) {
  expect(r.interception).toMatchObject({
    provider: 'bedrock',
    provider_name: 'bedrock',
    model,
    initiator_id: h.userId,
    api_key_id: h.apiKeyId,
    status: 'completed',
  });
  expect(r.token_usages.map(usageOf)).toEqual(usages);
  expect(r.tool_usages).toEqual([
    expect.objectContaining({ tool: 'echo', injected: true, server_url: mcp.url, invocation_error: null }),
  ]);
  expect(r.interception.cost_usd).toBe(cost);
}

describe('the AWS SDK with the bridge token as its bearer token', () => {
  it('InvokeModel: the injected tool runs between two signed calls; one answer, recorded and priced', async () => {
    fake.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const since = new Date();
    const out = await awsClient().send(
      new InvokeModelCommand({ modelId: GEO_PROFILE, body: JSON.stringify(BODY), contentType: 'application/json' }),
    );
    const message = decode(out.body);
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b: any) => b.text).join('')).toContain(AFTER.text);
    expect(message.usage.output_tokens).toBe(CALL.usage!.output_tokens + AFTER.usage!.output_tokens);
    expectSignedLoop(GEO_PROFILE);
    // us. is a geographic profile: the regional row of claude-sonnet-4-5, $3.30 in and $16.50 out per million.
    // (437 × 3.3 + 64 × 16.5) / 1e6 + (541 × 3.3 + 15 × 16.5) / 1e6 = 0.0024981 + 0.0020328
    expectLoopRecords(await recordedSince(since), GEO_PROFILE, [CALL.usage, AFTER.usage], 0.0045309);
  });

  it('InvokeModelWithResponseStream: event-stream frames to the client, the injected call hidden', async () => {
    fake.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const since = new Date();
    const out = await awsClient().send(
      new InvokeModelWithResponseStreamCommand({ modelId: GLOBAL_PROFILE, body: JSON.stringify(BODY) }),
    );
    expect(out.contentType).toBe('application/json'); // x-amzn-bedrock-content-type, as Bedrock sends it
    const events: any[] = [];
    for await (const part of out.body!) events.push(decode(part.chunk!.bytes));
    expect(JSON.stringify(events)).not.toContain('bmcp_');
    const types = events.map((e) => e.type).filter((t) => t !== 'ping');
    expect(types[0]).toBe('message_start');
    expect(types.filter((t) => t === 'message_start')).toHaveLength(1);
    expect(types.at(-1)).toBe('message_stop');
    expect(events.filter((e) => e.type === 'content_block_start').map((e) => e.index)).toEqual([0, 1]);
    const text = events
      .filter((e) => e.type === 'content_block_delta' && e.delta.type === 'text_delta')
      .map((e) => e.delta.text)
      .join('');
    expect(text).toBe(`${CALL_SSE.text}${AFTER_SSE.text}`);
    expectSignedLoop(GLOBAL_PROFILE);
    // global. is billed at Anthropic's own rates: (439 × 3 + 64 × 15) / 1e6 + (543 × 3 + 15 × 15) / 1e6
    expectLoopRecords(await recordedSince(since), GLOBAL_PROFILE, [CALL_SSE.usage, AFTER_SSE.usage], 0.004131);
  });

  it('names an application inference profile by its ARN: recorded decoded, priced only by pricing:', async () => {
    fake.enqueue('anthropic-messages/text.sse');
    const since = new Date();
    const out = await awsClient().send(
      new InvokeModelWithResponseStreamCommand({ modelId: APP_PROFILE, body: JSON.stringify(BODY) }),
    );
    for await (const _ of out.body!) {
    }
    expect(fake.requests[0]?.path).toBe(`/model/${encodeURIComponent(APP_PROFILE)}/invoke-with-response-stream`);
    expect(fake.requests[0]?.modelId).toBe(APP_PROFILE);
    const r = await recordedSince(since);
    expect(r.interception.model).toBe(APP_PROFILE);
    // The configured price of the ARN: (13 × 2 + 12 × 8) / 1e6
    expect(r.token_usages.map(usageOf)).toEqual([TEXT_SSE.usage]);
    expect(r.interception.cost_usd).toBe(0.000122);
  });

  it('CountTokens passes through, signed', async () => {
    const out = await awsClient().send(
      new CountTokensCommand({
        modelId: FOUNDATION,
        input: { invokeModel: { body: new TextEncoder().encode(JSON.stringify(BODY)) } },
      }),
    );
    expect(out.inputTokens).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ operation: 'count-tokens', accessKeyId: TEST_AWS_KEY.accessKeyId });
    expect(fake.requests[0]?.refused).toBeUndefined();
  });
});

describe('the Anthropic Bedrock SDK with the bridge token as its API key', () => {
  it('messages.create: the tool loop runs, the answer is one message', async () => {
    fake.enqueue('anthropic-messages/injected-tool.json', 'anthropic-messages/after-tool.json');
    const since = new Date();
    const message = await anthropicBedrock().messages.create({
      model: FOUNDATION,
      max_tokens: 512,
      messages: [{ role: 'user', content: 'Echo something' }],
    });
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toContain(AFTER.text);
    expectSignedLoop(FOUNDATION);
    // An in-region id bills like a geographic profile: the regional row.
    expectLoopRecords(await recordedSince(since), FOUNDATION, [CALL.usage, AFTER.usage], 0.0045309);
  });

  it('messages.stream: the SDK reads the event stream; the injected call is hidden', async () => {
    fake.enqueue('anthropic-messages/injected-tool.sse', 'anthropic-messages/after-tool.sse');
    const since = new Date();
    const stream = anthropicBedrock().messages.stream({
      model: GEO_PROFILE,
      max_tokens: 512,
      messages: [{ role: 'user', content: 'Echo something' }],
    });
    const message = await stream.finalMessage();
    expect(JSON.stringify(message)).not.toContain('bmcp_');
    expect(message.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual([CALL_SSE.text, AFTER_SSE.text]);
    expectSignedLoop(GEO_PROFILE);
    // (439 × 3.3 + 64 × 16.5) / 1e6 + (543 × 3.3 + 15 × 16.5) / 1e6 = 0.0025047 + 0.0020394
    expectLoopRecords(await recordedSince(since), GEO_PROFILE, [CALL_SSE.usage, AFTER_SSE.usage], 0.0045441);
  });
});

describe('errors as Bedrock clients expect them', () => {
  const invoke = (client: BedrockRuntimeClient, modelId = GEO_PROFILE, body: unknown = BODY) =>
    client.send(new InvokeModelCommand({ modelId, body: JSON.stringify(body) }));

  it('no or an unknown bridge token: AccessDeniedException (401), and nothing goes upstream', async () => {
    const unknown = await rejection(invoke(awsClient('aib_not-a-real-token')));
    expect(unknown).toBeInstanceOf(AccessDeniedException);
    expect(unknown.$metadata.httpStatusCode).toBe(401);
    expect(unknown.message).toMatch(/invalid or expired AI Bridge token/);
    const res = await fetch(`${h.bridge.url}/bedrock/model/${GEO_PROFILE}/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(BODY),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(await res.json()).toEqual({ message: expect.stringMatching(/missing credentials/) });
    const sdk = await rejection(
      anthropicBedrock('aib_not-a-real-token').messages.create({
        model: GEO_PROFILE,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(sdk).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(fake.requests).toEqual([]);
  });

  it('a bad body or model id: ValidationException (400), before anything goes upstream', async () => {
    const body = await rejection(invoke(awsClient(), GEO_PROFILE, { anthropic_version: 'bedrock-2023-05-31' }));
    expect(body).toBeInstanceOf(ValidationException);
    expect(body.$metadata.httpStatusCode).toBe(400);
    expect(body.message).toMatch(/messages/);
    const model = await rejection(invoke(awsClient(), 'not a model id!'));
    expect(model).toBeInstanceOf(ValidationException);
    expect(model.message).toBe('The provided model identifier is invalid.');
    expect(fake.requests).toEqual([]);
  });

  it('a Bedrock API the bridge does not serve (Converse): 404 ResourceNotFoundException', async () => {
    const res = await fetch(`${h.bridge.url}/bedrock/model/${GEO_PROFILE}/converse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [] }),
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect(await res.json()).toEqual({ message: expect.stringContaining('/converse') });
    expect(fake.requests).toEqual([]);
  });

  it("the upstream's ThrottlingException reaches the client as Bedrock sent it, blocking and streaming", async () => {
    fake.enqueue(
      { error: 'ThrottlingException', status: 429, message: 'Too many requests, please wait before trying again.' },
      { fixture: 'anthropic-messages/text.sse', exception: 'throttlingException', afterEvents: 3 },
    );
    const blocking = await rejection(invoke(awsClient()));
    expect(blocking).toBeInstanceOf(ThrottlingException);
    expect(blocking.$metadata.httpStatusCode).toBe(429);
    expect(blocking.message).toBe('Too many requests, please wait before trying again.');

    const out = await awsClient().send(
      new InvokeModelWithResponseStreamCommand({ modelId: GEO_PROFILE, body: JSON.stringify(BODY) }),
    );
    const events: any[] = [];
    const streamed = await rejection(
      (async () => {
        for await (const part of out.body!) events.push(decode(part.chunk!.bytes));
      })(),
    );
    expect(events.map((e) => e.type)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(streamed).toBeInstanceOf(ThrottlingException);
    expect(streamed.message).toBe('throttlingException (scripted)');
  });

  it("a failure once the stream has started: the bridge's own exception frame", async () => {
    fake.enqueue('anthropic-messages/injected-tool.sse', {
      error: 'InternalServerException',
      status: 500,
      message: 'Internal server error',
    });
    const out = await awsClient().send(
      new InvokeModelWithResponseStreamCommand({ modelId: GEO_PROFILE, body: JSON.stringify(BODY) }),
    );
    const events: any[] = [];
    const err = await rejection(
      (async () => {
        for await (const part of out.body!) events.push(decode(part.chunk!.bytes));
      })(),
    );
    expect(events.map((e) => e.type)).toContain('content_block_delta'); // the first turn's text got through
    expect(JSON.stringify(events)).not.toContain('bmcp_');
    expect(err).toBeInstanceOf(ModelStreamErrorException);
    expect(err.message).toMatch(/^upstream answered 500/);
    expect(fake.requests).toHaveLength(2);
  });

  it('a member over budget: ThrottlingException (429) naming the limit', async () => {
    const member = await h.bridge.user('over-budget');
    await h.bridge.ctx.users.setBudget('over-budget', { usd: 0.000001, period: 'day' });
    fake.reset();
    // No call fits in a millionth of a dollar: refused before anything is sent.
    const refused = await rejection(invoke(awsClient(member.token)));
    expect(refused).toBeInstanceOf(ThrottlingException);
    expect(refused.$metadata.httpStatusCode).toBe(429);
    expect(refused.message).toMatch(/budget of \$0\.000001\/day would be exceeded for over-budget/);
    expect(fake.requests).toEqual([]);
  });

  it("a wrong configured secret: the client hears the provider refused the bridge's credentials, no more", async () => {
    const since = new Date();
    const err = await rejection(invoke(awsClient(h.token, 'bedrock-bad-secret')));
    expect(err).toBeInstanceOf(InternalServerException);
    expect(err.$metadata.httpStatusCode).toBe(502);
    expect(err.message).toMatch(
      /^provider "bedrock-bad-secret" refused the bridge's own credentials; .*\(request id .+\)$/,
    );
    expect(fake.requests.map((r) => r.refused)).toEqual(['InvalidSignatureException']);
    expect(h.bridge.logs.text).toContain('The request signature we calculated does not match');
    expect(h.bridge.logs.text).not.toContain(TEST_AWS_KEY.secretAccessKey);
    const r = await recordedSince(since);
    expect(r.interception.status).toBe('failed');
    expect(JSON.stringify(r)).not.toContain('signature we calculated');

    // Streaming and passthrough say the same.
    const streamed = await rejection(
      awsClient(h.token, 'bedrock-bad-secret').send(
        new InvokeModelWithResponseStreamCommand({ modelId: GEO_PROFILE, body: JSON.stringify(BODY) }),
      ),
    );
    expect(streamed).toBeInstanceOf(InternalServerException);
    const counted = await rejection(
      awsClient(h.token, 'bedrock-bad-secret').send(
        new CountTokensCommand({ modelId: FOUNDATION, input: { converse: { messages: [] } } }),
      ),
    );
    expect(counted).toBeInstanceOf(InternalServerException);
    expect(counted.message).toMatch(/refused the bridge's own credentials/);
  });

  it('no AWS credentials anywhere: ServiceUnavailableException (503), the cause only in the log', async () => {
    const err = await rejection(invoke(awsClient(h.token, 'bedrock-no-keys')));
    expect(err).toBeInstanceOf(ServiceUnavailableException);
    expect(err.$metadata.httpStatusCode).toBe(503);
    expect(err.message).toMatch(/^provider "bedrock-no-keys" could not get AWS credentials; .*\(request id .+\)$/);
    expect(h.bridge.logs.text).toMatch(/no AWS credentials found/);
    expect(fake.requests).toEqual([]);
  });

  it('STS refusing the role: InternalServerException (502) that names neither role nor key', async () => {
    const err = await rejection(invoke(awsClient(h.token, 'bedrock-refused-role')));
    expect(err).toBeInstanceOf(InternalServerException);
    expect(err.$metadata.httpStatusCode).toBe(502);
    expect(err.message).toMatch(/could not get AWS credentials/);
    for (const secret of [ROLE, MASTER.accessKeyId, MASTER.secretAccessKey]) expect(err.message).not.toContain(secret);
    expect(h.bridge.logs.text).toMatch(/AccessDenied/);
    expect(h.bridge.logs.text).not.toContain(MASTER.secretAccessKey);
    expect(fake.requests).toEqual([]);
  });
});

describe('the control plane Claude Code asks first', () => {
  it('GET /inference-profiles answers an empty list in Bedrock shape, without credentials, asking no one', async () => {
    for (const headers of [{}, { authorization: `Bearer ${h.token}` }] as Record<string, string>[]) {
      const res = await fetch(`${h.bridge.url}/bedrock/inference-profiles?type=SYSTEM_DEFINED&maxResults=100`, {
        headers,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ inferenceProfileSummaries: [] });
    }
    expect(fake.requests).toEqual([]);
  });
});
