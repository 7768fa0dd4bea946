import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import AnthropicBedrock from '@anthropic-ai/bedrock-sdk';
import {
  BedrockRuntimeClient,
  InternalServerException,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { Hash } from '@smithy/hash-node';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BridgeErrorKind } from '../../src/providers/errors.ts';
import { bedrockError, kindOfBedrockError } from '../../src/providers/kinds/bedrock/errors.ts';
import {
  BedrockStreamException,
  EventStreamDecoder,
  EventStreamFormatError,
  encodeChunk,
  encodeException,
  encodeStreamError,
} from '../../src/providers/kinds/bedrock/event-stream.ts';
import { BedrockSigner } from '../../src/providers/kinds/bedrock/signer.ts';
import type { SseEvent } from '../../src/providers/sse.ts';
import { FakeBedrock, TEST_AWS_KEY } from '../helpers/fake-bedrock.ts';
import { fixtureEvents } from '../helpers/fakes.ts';
import { loadFixture } from '../helpers/upstream.ts';

const REGION = 'us-east-1';
const FOUNDATION_ID = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
const PROFILE_ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456';
const BODY = {
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Hello' }],
};
const TEXT_SSE = 'anthropic-messages/text.sse';

/** How the AWS SDK puts a model id in the path: every reserved character percent-encoded. */
const awsPath = (modelId: string, op: 'invoke' | 'invoke-with-response-stream' = 'invoke') =>
  `/model/${encodeURIComponent(modelId)}/${op}`;

const awsClient = (endpoint: string, credentials = TEST_AWS_KEY) =>
  new BedrockRuntimeClient({
    region: REGION,
    endpoint,
    credentials,
    // The SDK's default for bedrock-runtime is HTTP/2; the fakes speak HTTP/1.1.
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });

/** The fixture's events as JSON, `message_stop` without what Bedrock adds to it. */
const fixtureJson = (path: string) => fixtureEvents(path).map((e) => JSON.parse(e.data));
const withoutMetrics = (event: Record<string, unknown>) => {
  const { 'amazon-bedrock-invocationMetrics': _metrics, ...rest } = event;
  return rest;
};

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A loopback server answering every request with `respond`, recording what it got. */
async function tinyServer(
  respond: (res: import('node:http').ServerResponse) => void,
): Promise<{ url: string; server: Server; seen: Array<{ url: string; headers: IncomingHttpHeaders; body: Buffer }> }> {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders; body: Buffer }> = [];
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    seen.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
    respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen };
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

let fake: FakeBedrock;
beforeAll(async () => {
  fake = await FakeBedrock.start({ region: REGION });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

describe('fake Bedrock, read by the official AWS SDK', () => {
  it('accepts a signed InvokeModel and answers the fixture', async () => {
    fake.enqueue('anthropic-messages/text.json');
    const out = await awsClient(fake.url).send(
      new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY), contentType: 'application/json' }),
    );
    const fixture = loadFixture('anthropic-messages/text.json');
    expect(JSON.parse(new TextDecoder().decode(out.body))).toEqual(JSON.parse((fixture as { body: string }).body));
    const [seen] = fake.requests;
    expect(seen?.path).toBe(awsPath(FOUNDATION_ID));
    expect(seen?.modelId).toBe(FOUNDATION_ID);
    expect(seen?.accessKeyId).toBe(TEST_AWS_KEY.accessKeyId);
    expect(seen?.refused).toBeUndefined();
  });

  it('streams InvokeModelWithResponseStream: the SDK decodes every event, metrics on the last', async () => {
    fake.enqueue(TEXT_SSE);
    const out = await awsClient(fake.url).send(
      new InvokeModelWithResponseStreamCommand({ modelId: PROFILE_ARN, body: JSON.stringify(BODY) }),
    );
    const events: any[] = [];
    for await (const part of out.body!) events.push(JSON.parse(new TextDecoder().decode(part.chunk!.bytes)));
    expect(events.map(withoutMetrics)).toEqual(fixtureJson(TEXT_SSE));
    expect(events.at(-1)['amazon-bedrock-invocationMetrics']).toMatchObject({
      inputTokenCount: 13,
      outputTokenCount: 12,
    });
    expect(fake.requests[0]?.path).toBe(awsPath(PROFILE_ARN, 'invoke-with-response-stream'));
  });

  it('refuses a wrong secret as AWS does: 403 InvalidSignatureException', async () => {
    const err = await rejection(
      awsClient(fake.url, { ...TEST_AWS_KEY, secretAccessKey: 'not-the-secret' }).send(
        new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) }),
      ),
    );
    expect(err.name).toBe('InvalidSignatureException');
    expect(err.$metadata.httpStatusCode).toBe(403);
    expect(err.message).toMatch(/^The request signature we calculated does not match/);
    expect(fake.requests[0]?.refused).toBe('InvalidSignatureException');
  });

  it('refuses an unknown key or session token: 403 UnrecognizedClientException', async () => {
    for (const credentials of [
      { ...TEST_AWS_KEY, accessKeyId: 'AKIAUNKNOWNKEY000000' },
      { ...TEST_AWS_KEY, sessionToken: 'a-token-nobody-issued' },
    ]) {
      const err = await rejection(
        awsClient(fake.url, credentials).send(
          new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) }),
        ),
      );
      expect(err.name).toBe('UnrecognizedClientException');
      expect(err.message).toBe('The security token included in the request is invalid.');
    }
  });

  it('refuses a body that is not a Bedrock body: ValidationException', async () => {
    for (const body of [
      { ...BODY, model: 'claude-sonnet-4-5' },
      { ...BODY, stream: true },
      { max_tokens: 5, messages: [] },
      { ...BODY, anthropic_version: '2023-06-01' },
    ]) {
      const err = await rejection(
        awsClient(fake.url).send(new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(body) })),
      );
      expect(err).toBeInstanceOf(ValidationException);
      expect(err.message).toMatch(/^Malformed input request/);
    }
  });

  it('answers scripted errors and mid-stream exceptions as the SDK expects them', async () => {
    fake.enqueue(
      'anthropic-messages/http-429.json',
      { error: 'InternalServerException', status: 500, message: 'Internal server error' },
      {
        fixture: TEXT_SSE,
        exception: 'throttlingException',
        afterEvents: 3,
      },
    );
    const http = await rejection(
      awsClient(fake.url).send(new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) })),
    );
    expect(http).toBeInstanceOf(ThrottlingException);
    expect(http.$metadata.httpStatusCode).toBe(429);
    const internal = await rejection(
      awsClient(fake.url).send(new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) })),
    );
    expect(internal).toBeInstanceOf(InternalServerException);
    expect(internal.message).toBe('Internal server error');

    const out = await awsClient(fake.url).send(
      new InvokeModelWithResponseStreamCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) }),
    );
    const events: unknown[] = [];
    const err = await rejection(
      (async () => {
        for await (const part of out.body!) events.push(part.chunk);
      })(),
    );
    expect(events).toHaveLength(3);
    expect(err).toBeInstanceOf(ThrottlingException);
  });
});

describe('fake Bedrock, read by the Anthropic Bedrock SDK', () => {
  const client = () =>
    new AnthropicBedrock({
      awsAccessKey: TEST_AWS_KEY.accessKeyId,
      awsSecretKey: TEST_AWS_KEY.secretAccessKey,
      awsRegion: REGION,
      baseURL: fake.url,
      maxRetries: 0,
    });

  it('creates a message', async () => {
    fake.enqueue('anthropic-messages/text.json');
    const message = await client().messages.create({
      model: FOUNDATION_ID,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(message.content).toEqual([{ type: 'text', text: 'Hello! How can I help you today?' }]);
    // This SDK leaves `:` as it is and encodes only `/`.
    expect(fake.requests[0]?.path).toBe(`/model/${FOUNDATION_ID}/invoke`);
  });

  it('streams a message by an application inference profile ARN', async () => {
    fake.enqueue(TEXT_SSE);
    const stream = client().messages.stream({
      model: PROFILE_ARN,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    // The SDK does not hand on pings.
    expect(types).toEqual(fixtureJson(TEXT_SSE).flatMap((e) => (e.type === 'ping' ? [] : [e.type])));
    expect((await stream.finalMessage()).content).toEqual([{ type: 'text', text: 'Hello! How can I help you today?' }]);
    expect(fake.requests[0]?.modelId).toBe(PROFILE_ARN);
  });
});

describe('BedrockSigner', () => {
  const signer = new BedrockSigner({ region: REGION, ...keyConfig(TEST_AWS_KEY) });

  function keyConfig(key: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) {
    return {
      access_key_id: key.accessKeyId,
      secret_access_key: key.secretAccessKey,
      ...(key.sessionToken ? { session_token: key.sessionToken } : {}),
    };
  }

  async function send(path: string, headers: Record<string, string>, body?: string, method = 'POST') {
    const res = await request(`${fake.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    return { status: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
  }

  /** Signs what the SDK sent (only the headers it signed, at its date) and compares the two Authorization headers. */
  async function resign(seen: { url: string; headers: IncomingHttpHeaders; body: Buffer }, origin: string) {
    const authorization = String(seen.headers.authorization);
    const signedNames = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
    const headers = Object.fromEntries(signedNames.map((name) => [name, String(seen.headers[name])]));
    const date = String(seen.headers['x-amz-date']).replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      '$1-$2-$3T$4:$5:$6Z',
    );
    const ours = await signer.sign({
      method: 'POST',
      origin,
      path: seen.url,
      headers,
      body: seen.body,
      date: new Date(date),
    });
    return { theirs: authorization, ours: ours.authorization };
  }

  it('signs byte for byte as the AWS SDK does, a double-encoded ARN path included', async () => {
    const tiny = await tinyServer((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    try {
      for (const modelId of [FOUNDATION_ID, PROFILE_ARN]) {
        await awsClient(tiny.url).send(new InvokeModelCommand({ modelId, body: JSON.stringify(BODY) }));
      }
      expect(tiny.seen.map((s) => s.url)).toEqual([awsPath(FOUNDATION_ID), awsPath(PROFILE_ARN)]);
      for (const seen of tiny.seen) {
        const { theirs, ours } = await resign(seen, tiny.url);
        expect(ours).toBe(theirs);
      }
    } finally {
      await closeServer(tiny.server);
    }
  });

  it('signs as the Anthropic Bedrock SDK does for its less-encoded path', async () => {
    const text = (loadFixture('anthropic-messages/text.json') as { body: string }).body;
    const tiny = await tinyServer((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(text));
    try {
      const client = new AnthropicBedrock({
        awsAccessKey: TEST_AWS_KEY.accessKeyId,
        awsSecretKey: TEST_AWS_KEY.secretAccessKey,
        awsRegion: REGION,
        baseURL: tiny.url,
        maxRetries: 0,
      });
      await client.messages.create({ model: PROFILE_ARN, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
      const [seen] = tiny.seen;
      expect(seen?.url).toBe(`/model/${PROFILE_ARN.replace('/', '%2F')}/invoke`);
      const { theirs, ours } = await resign(seen!, tiny.url);
      expect(ours).toBe(theirs);
    } finally {
      await closeServer(tiny.server);
    }
  });

  it('signs requests the fake accepts: a model id with `:` and an application profile ARN, blocking and streaming', async () => {
    fake.enqueue('anthropic-messages/text.json', TEXT_SSE);
    const body = JSON.stringify(BODY);
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const blocking = await send(
      awsPath(FOUNDATION_ID),
      await signer.sign({ method: 'POST', origin: fake.url, path: awsPath(FOUNDATION_ID), headers, body }),
      body,
    );
    expect(blocking.status).toBe(200);
    const streamPath = awsPath(PROFILE_ARN, 'invoke-with-response-stream');
    const streamed = await send(
      streamPath,
      await signer.sign({ method: 'POST', origin: fake.url, path: streamPath, headers, body }),
      body,
    );
    expect(streamed.status).toBe(200);
    expect(streamed.headers['content-type']).toBe('application/vnd.amazon.eventstream');
    expect(fake.requests.map((r) => [r.modelId, r.accessKeyId])).toEqual([
      [FOUNDATION_ID, TEST_AWS_KEY.accessKeyId],
      [PROFILE_ARN, TEST_AWS_KEY.accessKeyId],
    ]);
  });

  it('is refused when the body changes after signing', async () => {
    const path = awsPath(FOUNDATION_ID);
    const body = JSON.stringify(BODY);
    const signed = await signer.sign({ method: 'POST', origin: fake.url, path, headers: {}, body });
    const tampered = body.replace('Hello', 'Hellp');
    const res = await send(path, signed, tampered);
    expect(res.status).toBe(403);
    expect(res.headers['x-amzn-errortype']).toMatch(/^InvalidSignatureException:/);
    expect(JSON.parse(res.bytes.toString()).message).toMatch(/signature we calculated does not match/);
    // Signed without a payload-hash header, the fake hashes the body itself.
    const bare = new SignatureV4({
      service: 'bedrock',
      region: REGION,
      credentials: TEST_AWS_KEY,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
    });
    const host = new URL(fake.url).host;
    const bareSigned = await bare.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: host,
      path,
      headers: { host },
      body,
    });
    const bareHeaders = bareSigned.headers as Record<string, string>;
    expect(bareHeaders['x-amz-content-sha256']).toBeUndefined();
    fake.enqueue('anthropic-messages/text.json');
    expect((await send(path, bareHeaders, body)).status).toBe(200);
    expect((await send(path, bareHeaders, tampered)).status).toBe(403);
  });

  it("drops the client's own signing headers and sends its session token", async () => {
    const key = {
      accessKeyId: 'ASIATEMPORARYKEY0001',
      secretAccessKey: 'temporary-secret',
      sessionToken: 'session-token-1',
    };
    fake.keys.push(key);
    fake.enqueue('anthropic-messages/text.json');
    const temporary = new BedrockSigner({ region: REGION, ...keyConfig(key) });
    const path = awsPath(FOUNDATION_ID);
    const body = JSON.stringify(BODY);
    const signed = await temporary.sign({
      method: 'POST',
      origin: fake.url,
      path,
      headers: {
        Authorization: 'Bearer client-token',
        'X-Amz-Security-Token': 'client-session',
        'x-amz-content-sha256': '0'.repeat(64),
        'x-amz-date': '20000101T000000Z',
        'Content-Length': '1',
        'anthropic-beta': 'context-1m-2025-08-07',
      },
      body,
    });
    expect(signed['x-amz-security-token']).toBe('session-token-1');
    expect(signed.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIATEMPORARYKEY0001\//);
    expect(signed.authorization).toContain('anthropic-beta');
    expect(signed['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(JSON.stringify(signed)).not.toMatch(/client-token|client-session|20000101/);
    expect((await send(path, signed, body)).status).toBe(200);
  });

  it('signs the control-plane list Claude Code asks for; unsigned it is refused', async () => {
    const path = '/inference-profiles?type=SYSTEM_DEFINED&maxResults=10';
    const listed = await send(
      path,
      await signer.sign({ method: 'GET', origin: fake.url, path, headers: {} }),
      undefined,
      'GET',
    );
    expect(listed.status).toBe(200);
    const profiles = JSON.parse(listed.bytes.toString()).inferenceProfileSummaries;
    expect(profiles.map((p: { inferenceProfileId: string }) => p.inferenceProfileId)).toContain(
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    );
    const unsigned = await send(path, {}, undefined, 'GET');
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers['x-amzn-errortype']).toMatch(/^MissingAuthenticationTokenException/);
  });

  it('refuses paths whose meaning AWS would normalise away', async () => {
    for (const path of ['/model/../invoke', '/model//invoke', 'model/x/invoke', '/model/a b/invoke', '/model/./x']) {
      await expect(signer.sign({ method: 'POST', origin: fake.url, path, headers: {}, body: '{}' })).rejects.toThrow(
        /unusual request path/,
      );
    }
  });
});

describe('EventStreamDecoder', () => {
  async function fakeStreamBytes(answer: Parameters<FakeBedrock['enqueue']>[0] = TEXT_SSE): Promise<Buffer> {
    fake.enqueue(answer);
    const signer = new BedrockSigner({
      region: REGION,
      access_key_id: TEST_AWS_KEY.accessKeyId,
      secret_access_key: TEST_AWS_KEY.secretAccessKey,
    });
    const path = awsPath(FOUNDATION_ID, 'invoke-with-response-stream');
    const body = JSON.stringify(BODY);
    const res = await request(`${fake.url}${path}`, {
      method: 'POST',
      headers: await signer.sign({ method: 'POST', origin: fake.url, path, headers: {}, body }),
      body,
    });
    expect(res.statusCode).toBe(200);
    return Buffer.from(await res.body.arrayBuffer());
  }

  const decodeAll = (parts: Uint8Array[]) => {
    const decoder = new EventStreamDecoder();
    const items = parts.flatMap((part) => decoder.push(part));
    decoder.end();
    return items;
  };

  const expectFixtureEvents = (items: unknown[]) => {
    const events = items as SseEvent[];
    expect(events.map((e) => e.event)).toEqual(fixtureEvents(TEXT_SSE).map((e) => e.event));
    expect(events.map((e) => withoutMetrics(JSON.parse(e.data)))).toEqual(fixtureJson(TEXT_SSE));
    // Every event but the last (which carries Bedrock's metrics) is the fixture's own text, relayable as SSE.
    expect(events.slice(0, -1).map((e) => e.raw)).toEqual(
      fixtureEvents(TEXT_SSE)
        .slice(0, -1)
        .map((e) => e.raw),
    );
  };

  it('reads the fake stream split at every byte boundary, and one byte at a time', async () => {
    const bytes = await fakeStreamBytes();
    const whole = decodeAll([bytes]);
    expectFixtureEvents(whole);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(whole);
    }
    expect(decodeAll([...bytes].map((b) => Uint8Array.of(b)))).toEqual(whole);
  });

  it('yields a stream exception as a typed value, after the events before it', async () => {
    const bytes = await fakeStreamBytes({ fixture: TEXT_SSE, exception: 'modelStreamErrorException', afterEvents: 2 });
    const items = decodeAll([bytes]);
    expect(items).toHaveLength(3);
    const last = items[2];
    expect(last).toBeInstanceOf(BedrockStreamException);
    expect(last).toMatchObject({ exceptionType: 'modelStreamErrorException', kind: 'upstream' });
  });

  it('refuses an oversized frame from its prelude, before buffering it', () => {
    const prelude = Buffer.alloc(12);
    prelude.writeUInt32BE(1024 * 1024 * 1024, 0);
    prelude.writeUInt32BE(0, 4);
    prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
    expect(() => new EventStreamDecoder().push(prelude)).toThrow(/exceeds the 16777216-byte limit/);
    const small = new EventStreamDecoder({ maxFrameBytes: 64 });
    expect(() => small.push(encodeChunk(JSON.stringify({ type: 'ping', pad: 'x'.repeat(100) })))).toThrow(
      EventStreamFormatError,
    );
  });

  it('refuses corrupted and truncated streams', () => {
    const frame = Buffer.from(encodeChunk('{"type":"ping"}'));
    const flipped = Buffer.from(frame);
    flipped[20] = flipped[20]! ^ 1;
    expect(() => new EventStreamDecoder().push(flipped)).toThrow(/checksum/);
    const prelude = Buffer.from(frame);
    prelude[2] = prelude[2]! ^ 1;
    expect(() => new EventStreamDecoder().push(prelude)).toThrow(/prelude checksum/);
    const truncated = new EventStreamDecoder();
    expect(truncated.push(frame.subarray(0, frame.length - 1))).toEqual([]);
    expect(() => truncated.end()).toThrow(/ended inside a frame/);
    expect(() => new EventStreamDecoder().push(encodeException('x', 'y').slice(0, 12))).not.toThrow();
  });

  it('skips chunks without a type and keeps the JSON of an event on one SSE line', () => {
    const items = decodeAll([encodeChunk('{"keepalive":true}'), encodeChunk('{\n  "type": "ping"\n}')]);
    expect(items).toEqual([{ event: 'ping', data: '{"type":"ping"}', raw: 'event: ping\ndata: {"type":"ping"}\n\n' }]);
  });
});

describe('event stream encoder', () => {
  it("is read by the AWS SDK as the fixture's events; its exception frame as the SDK's typed exception", async () => {
    const frames = fixtureEvents(TEXT_SSE).map((e) => encodeChunk(e.data));
    let withError = false;
    const tiny = await tinyServer((res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      for (const frame of frames) res.write(frame);
      if (withError) res.write(encodeStreamError('rate_limited', 'Too many tokens, please wait before trying again.'));
      res.end();
    });
    try {
      const read = async () => {
        const out = await awsClient(tiny.url).send(
          new InvokeModelWithResponseStreamCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) }),
        );
        const events: unknown[] = [];
        let error: unknown;
        try {
          for await (const part of out.body!) events.push(JSON.parse(new TextDecoder().decode(part.chunk!.bytes)));
        } catch (err) {
          error = err;
        }
        return { events, error };
      };
      const clean = await read();
      expect(clean.events).toEqual(fixtureJson(TEXT_SSE));
      expect(clean.error).toBeUndefined();
      withError = true;
      const failed = await read();
      expect(failed.events).toEqual(fixtureJson(TEXT_SSE));
      expect(failed.error).toBeInstanceOf(ThrottlingException);
      expect((failed.error as Error).message).toBe('Too many tokens, please wait before trying again.');
    } finally {
      await closeServer(tiny.server);
    }
  });
});

describe('Bedrock error responses', () => {
  /** Bridge kind → the exception the SDK raises → what that type means when Bedrock sends it to the bridge. */
  const KINDS: Array<[BridgeErrorKind, string, BridgeErrorKind]> = [
    ['invalid_request', 'ValidationException', 'invalid_request'],
    ['authentication', 'AccessDeniedException', 'upstream'],
    ['permission', 'AccessDeniedException', 'upstream'],
    ['not_found', 'ResourceNotFoundException', 'not_found'],
    ['rate_limited', 'ThrottlingException', 'rate_limited'],
    ['overloaded', 'ServiceUnavailableException', 'overloaded'],
    ['upstream', 'InternalServerException', 'upstream'],
    ['upstream_timeout', 'ModelTimeoutException', 'upstream_timeout'],
    ['internal', 'InternalServerException', 'upstream'],
  ];

  it('make the AWS SDK raise its own exception with the message', async () => {
    let next: ReturnType<typeof bedrockError> | undefined;
    const tiny = await tinyServer((res) => {
      const { status, headers, body } = next!;
      res.writeHead(status, headers).end(JSON.stringify(body));
    });
    try {
      for (const [kind, type, back] of KINDS) {
        next = bedrockError(kind, `bridge says ${kind}`);
        const err = await rejection(
          awsClient(tiny.url).send(new InvokeModelCommand({ modelId: FOUNDATION_ID, body: JSON.stringify(BODY) })),
        );
        expect([err.name, err.message, err.$metadata.httpStatusCode]).toEqual([
          type,
          `bridge says ${kind}`,
          next.status,
        ]);
        expect(kindOfBedrockError(type)).toBe(back);
      }
    } finally {
      await closeServer(tiny.server);
    }
  });

  it('read the type in every spelling Bedrock uses', () => {
    expect(kindOfBedrockError('ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/')).toBe(
      'rate_limited',
    );
    expect(kindOfBedrockError('com.amazon.bedrock#ValidationException')).toBe('invalid_request');
    expect(kindOfBedrockError('modelTimeoutException')).toBe('upstream_timeout');
    expect(kindOfBedrockError('SomethingNew')).toBe('upstream');
  });
});
