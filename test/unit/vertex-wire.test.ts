import { createSign, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inspect } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicVertex from '@anthropic-ai/vertex-sdk';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BridgeErrorKind } from '../../src/providers/errors.ts';
import { vertexError } from '../../src/providers/kinds/vertex/errors.ts';
import {
  createGoogleAuth,
  GOOGLE_TOKEN_URL,
  GoogleTokenError,
  GoogleTokenSource,
} from '../../src/providers/kinds/vertex/google-token.ts';
import { CLOUD_PLATFORM, FakeVertex, type TestServiceAccount, writeServiceAccount } from '../helpers/fake-vertex.ts';
import { fixtureEvents } from '../helpers/fakes.ts';
import { tempDirs } from '../helpers/temp.ts';

const PROJECT = 'test-project';
const MODEL = 'claude-sonnet-4-5@20250929';
const TEXT_SSE = 'anthropic-messages/text.sse';
const newDir = tempDirs('aibridge-vertex-');

let fake: FakeVertex;
let account: TestServiceAccount;
beforeAll(async () => {
  fake = await FakeVertex.start({ project: PROJECT });
  account = writeServiceAccount(newDir(), fake.tokenUri, { project: PROJECT });
  fake.trust(account);
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  fake.tokenLifetimeSeconds = 3600;
});
afterEach(() => {
  vi.useRealTimers();
});

const predictPath = (model = MODEL, specifier = 'rawPredict', location = 'us-east5') =>
  `/v1/projects/${PROJECT}/locations/${location}/publishers/anthropic/models/${model}:${specifier}`;
const VERTEX_BODY = JSON.stringify({
  anthropic_version: 'vertex-2023-10-16',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Hello' }],
});

async function predict(token: string | undefined, path = predictPath(), body = VERTEX_BODY) {
  const res = await request(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

/**
 * A clock the token source, Google's library and the fake all read (timers stay real):
 * `later(ms)` sets it to `ms` after the moment it was made.
 */
function clock(): (ms: number) => void {
  const start = Date.now();
  return (ms) => vi.useFakeTimers({ toFake: ['Date'], now: start + ms });
}

describe('GoogleTokenSource', () => {
  it("gets a token from the key file's token_uri, which the fake accepts", async () => {
    fake.enqueue('anthropic-messages/text.json');
    const source = new GoogleTokenSource({ credentials_file: account.file });
    const token = await source.token();
    expect(fake.tokenRequests).toEqual([{ email: account.email, error: undefined }]);
    const answer = await predict(token);
    expect(answer.status).toBe(200);
    expect(fake.requests[0]?.email).toBe(account.email);
    expect(await source.token()).toBe(token);
    expect(fake.tokenRequests).toHaveLength(1);
  });

  it('refreshes before expiry and after it', async () => {
    const later = clock();
    const source = new GoogleTokenSource({ credentials_file: account.file });
    const first = await source.token();
    later(50 * 60_000); // ten minutes left: still used
    expect(await source.token()).toBe(first);
    later(56 * 60_000); // four minutes left: inside the margin, refreshed while it still works
    const second = await source.token();
    expect(second).not.toBe(first);
    expect((await predict(first, predictPath('count-tokens'), countBody())).status).toBe(200);
    later(3 * 3600_000); // both long expired
    expect(await predict(second, predictPath('count-tokens'), countBody())).toMatchObject({
      status: 401,
      json: { error: { status: 'UNAUTHENTICATED', details: [{ reason: 'ACCESS_TOKEN_EXPIRED' }] } },
    });
    const third = await source.token();
    expect((await predict(third, predictPath('count-tokens'), countBody())).status).toBe(200);
    expect(fake.tokenRequests).toHaveLength(3);
  });

  it('refreshes short-lived tokens at half their life', async () => {
    fake.tokenLifetimeSeconds = 120;
    const later = clock();
    const source = new GoogleTokenSource({ credentials_file: account.file });
    const first = await source.token();
    later(50_000);
    expect(await source.token()).toBe(first);
    later(70_000);
    expect(await source.token()).not.toBe(first);
  });

  it('makes one token request for concurrent callers', async () => {
    const source = new GoogleTokenSource({ credentials_file: account.file });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => source.token()));
    expect(new Set(tokens).size).toBe(1);
    expect(fake.tokenRequests).toHaveLength(1);
  });

  it('reads Application Default Credentials from GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = account.file;
    try {
      const token = await new GoogleTokenSource().token();
      expect((await predict(token, predictPath('count-tokens'), countBody())).status).toBe(200);
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });

  it('fails a refused refresh as an upstream error that leaks neither key nor assertion', async () => {
    const revoked = writeServiceAccount(newDir(), fake.tokenUri, { name: 'revoked', project: PROJECT });
    fake.trust(revoked);
    const source = new GoogleTokenSource({ credentials_file: revoked.file });
    await source.token();
    fake.revoke(revoked.email);
    clock()(2 * 3600_000);
    const err = await source.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoogleTokenError);
    expect(err).toMatchObject({ kind: 'upstream' });
    expect((err as Error).message).toBe(
      'Google token endpoint answered 400: invalid_grant: Invalid grant: account not found',
    );
    const everything = `${inspect(err, { depth: 10, showHidden: true })} ${JSON.stringify(err)} ${(err as Error).stack}`;
    const keyBody = revoked.privateKeyPem.split('\n')[1]!;
    expect(everything).not.toContain(keyBody);
    expect(everything).not.toMatch(/PRIVATE KEY|eyJ/);
  });

  it('fails unusable credentials as not configured, without quoting the file', async () => {
    const dir = newDir();
    const notJson = join(dir, 'key.pem');
    writeFileSync(notJson, account.privateKeyPem);
    const plainHttp = join(dir, 'plain-http.json');
    writeFileSync(plainHttp, JSON.stringify({ ...account.json, token_uri: 'http://tokens.example.com/token' }));
    for (const file of [join(dir, 'missing.json'), notJson, plainHttp]) {
      const err = await new GoogleTokenSource({ credentials_file: file }).token().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GoogleTokenError);
      expect(err).toMatchObject({ kind: 'not_configured' });
      expect(inspect(err)).not.toContain(account.privateKeyPem.split('\n')[1]!);
    }
    expect(fake.tokenRequests).toHaveLength(0);
  });
});

/** A count-tokens body: the cheapest authenticated call. */
const countBody = () =>
  JSON.stringify({ anthropic_version: 'vertex-2023-10-16', model: MODEL, messages: [{ role: 'user', content: 'Hi' }] });

describe('fake Google token endpoint', () => {
  const form = (assertion: string) =>
    request(fake.tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
    }).then(async (res) => ({ status: res.statusCode, json: (await res.body.json()) as any }));

  function assertion(claims: Record<string, unknown>, key = account.privateKeyPem): string {
    const now = Math.floor(Date.now() / 1000);
    const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({
        iss: account.email,
        aud: GOOGLE_TOKEN_URL,
        scope: CLOUD_PLATFORM,
        iat: now,
        exp: now + 3600,
        ...claims,
      }),
    ).toString('base64url');
    const signature = createSign('sha256').update(`${head}.${body}`).sign(key).toString('base64url');
    return `${head}.${body}.${signature}`;
  }

  it('grants a well-formed assertion and refuses forged, mis-addressed, stale and unscoped ones', async () => {
    expect(await form(assertion({}))).toMatchObject({ status: 200, json: { token_type: 'Bearer', expires_in: 3600 } });
    expect((await form(assertion({ aud: fake.tokenUri }))).status).toBe(200);
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    expect(await form(assertion({}, otherKey.toString()))).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' },
    });
    expect((await form(assertion({ aud: 'https://evil.example.com/token' }))).json.error).toBe('invalid_grant');
    expect((await form(assertion({ iat: 1_700_000_000, exp: 1_700_003_600 }))).json.error_description).toMatch(
      /short-lived token/,
    );
    expect((await form(assertion({ scope: 'https://www.googleapis.com/auth/devstorage.read_only' }))).json.error).toBe(
      'invalid_scope',
    );
    expect((await form(assertion({ iss: 'someone@else.iam.gserviceaccount.com' }))).json.error).toBe('invalid_grant');
  });
});

describe('fake Vertex, read by the Anthropic Vertex SDK', () => {
  async function vertexClient(region = 'us-east5') {
    return new AnthropicVertex({
      region,
      projectId: PROJECT,
      baseURL: `${fake.url}/v1`,
      googleAuth: await createGoogleAuth({ credentials_file: account.file }),
      maxRetries: 0,
    });
  }

  it('creates a message with a token from the same key file', async () => {
    fake.enqueue('anthropic-messages/text.json');
    const message = await (await vertexClient()).messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(message.content).toEqual([{ type: 'text', text: 'Hello! How can I help you today?' }]);
    expect(fake.tokenRequests).toEqual([{ email: account.email, error: undefined }]);
    expect(fake.requests[0]).toMatchObject({
      location: 'us-east5',
      model: MODEL,
      specifier: 'rawPredict',
      email: account.email,
      refused: undefined,
    });
  });

  it('streams a message in the global location', async () => {
    fake.enqueue(TEXT_SSE);
    const stream = (await vertexClient('global')).messages.stream({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(fixtureEvents(TEXT_SSE).flatMap((e) => (e.event === 'ping' ? [] : [e.event!])));
    expect(fake.requests[0]).toMatchObject({ location: 'global', specifier: 'streamRawPredict' });
  });

  it('counts tokens', async () => {
    const counted = await (await vertexClient()).messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(fake.requests[0]).toMatchObject({ model: 'count-tokens', json: { model: MODEL } });
  });

  it('refuses a token it did not issue, a missing one, another project and a non-Vertex body', async () => {
    expect(await predict('ya29.forged-token')).toMatchObject({
      status: 401,
      json: { error: { code: 401, status: 'UNAUTHENTICATED' } },
    });
    expect((await predict(undefined)).json.error.details[0].reason).toBe('CREDENTIALS_MISSING');
    const forged = new AnthropicVertex({
      region: 'us-east5',
      projectId: PROJECT,
      baseURL: `${fake.url}/v1`,
      authClient: { getRequestHeaders: async () => new Headers({ authorization: 'Bearer ya29.forged' }) } as never,
      maxRetries: 0,
    });
    await expect(
      forged.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toBeInstanceOf(Anthropic.AuthenticationError);

    const token = await new GoogleTokenSource({ credentials_file: account.file }).token();
    expect((await predict(token, predictPath().replace(PROJECT, 'someone-else'))).json.error.status).toBe(
      'PERMISSION_DENIED',
    );
    const withModel = JSON.stringify({ ...JSON.parse(VERTEX_BODY), model: MODEL });
    expect(await predict(token, predictPath(), withModel)).toMatchObject({
      status: 400,
      json: { error: { message: 'model: Extra inputs are not permitted' } },
    });
    const anthropicBody = JSON.stringify({ model: MODEL, max_tokens: 8, messages: [] });
    expect((await predict(token, predictPath(), anthropicBody)).json.error.message).toBe(
      'anthropic_version: Field required',
    );
  });
});

describe('Vertex error responses', () => {
  const CASES: Array<[BridgeErrorKind, string, new (...args: never[]) => Error]> = [
    ['invalid_request', 'INVALID_ARGUMENT', Anthropic.BadRequestError],
    ['authentication', 'UNAUTHENTICATED', Anthropic.AuthenticationError],
    ['permission', 'PERMISSION_DENIED', Anthropic.PermissionDeniedError],
    ['not_found', 'NOT_FOUND', Anthropic.NotFoundError],
    ['rate_limited', 'RESOURCE_EXHAUSTED', Anthropic.RateLimitError],
    ['overloaded', 'UNAVAILABLE', Anthropic.InternalServerError],
    ['upstream_timeout', 'DEADLINE_EXCEEDED', Anthropic.InternalServerError],
    ['internal', 'INTERNAL', Anthropic.InternalServerError],
  ];

  it("are Google's error JSON, raised by the Anthropic Vertex SDK as its own errors", async () => {
    let next: ReturnType<typeof vertexError> | undefined;
    const server = createServer((_req, res) =>
      res.writeHead(next!.status, next!.headers).end(JSON.stringify(next!.body)),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const client = new AnthropicVertex({
      region: 'us-east5',
      projectId: PROJECT,
      baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      authClient: { getRequestHeaders: async () => new Headers({ authorization: 'Bearer t' }) } as never,
      maxRetries: 0,
    });
    try {
      for (const [kind, googleStatus, errorClass] of CASES) {
        next = vertexError(kind, `bridge says ${kind}`);
        expect(next.body).toEqual({
          error: { code: next.status, message: `bridge says ${kind}`, status: googleStatus },
        });
        const err = await client.messages
          .create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(errorClass);
        expect((err as { status: number }).status).toBe(next.status);
        expect((err as Error).message).toContain(`bridge says ${kind}`);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
