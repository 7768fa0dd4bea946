import { generateKeyPairSync, type KeyObject, randomBytes, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type DefaultAnswer, ScriptedAnswers } from './scripted-answers.ts';
import { loadFixture } from './upstream.ts';

/**
 * A fake Google on loopback: the OAuth token endpoint service accounts trade signed JWTs at
 * (`POST /token`), and Vertex AI's Anthropic endpoints (`…/publishers/anthropic/models/{m}:rawPredict`,
 * `:streamRawPredict`, `count-tokens:rawPredict`). It checks what Google checks: an RS256
 * assertion signed by a trusted account's key, for the cloud-platform scope, short-lived; a
 * bearer token it issued and that has not expired; the project; a Vertex Anthropic body.
 */

export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * `anthropic_version` values accepted: Vertex's own, and the dated API version the Anthropic
 * Vertex SDK 1.x copies from its `anthropic-version` header.
 */
export const VERTEX_ANTHROPIC_VERSIONS = ['vertex-2023-10-16', '2026-10-21'];

export interface TestServiceAccount {
  email: string;
  /** The key file written, in Google's format. */
  file: string;
  json: Record<string, string>;
  publicKey: KeyObject;
  privateKeyPem: string;
}

/** Writes a service-account key file with a fresh RSA key whose `token_uri` is `tokenUri`. */
export function writeServiceAccount(
  dir: string,
  tokenUri: string,
  options: { name?: string; project?: string } = {},
): TestServiceAccount {
  const name = options.name ?? 'aibridge-test';
  const project = options.project ?? 'test-project';
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const email = `${name}@${project}.iam.gserviceaccount.com`;
  const json = {
    type: 'service_account',
    project_id: project,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKeyPem,
    client_email: email,
    client_id: String(100_000_000_000_000_000_000n + BigInt(randomBytes(4).readUInt32BE())),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com',
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(json, null, 2), { mode: 0o600 });
  return { email, file, json, publicKey, privateKeyPem };
}

export interface TokenRequest {
  email: string | undefined;
  /** The OAuth error it was refused with, if it was. */
  error: string | undefined;
}

export interface VertexRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  project: string | undefined;
  location: string | undefined;
  /** The decoded model segment (`claude-sonnet-4-5@20250929`, or `count-tokens`). */
  model: string | undefined;
  specifier: 'rawPredict' | 'streamRawPredict' | undefined;
  /** The account whose token it carried, when the token held. */
  email: string | undefined;
  /** The Google status it was refused with, if it was. */
  refused: string | undefined;
}

/** A fixture path (JSON for rawPredict, SSE for streamRawPredict), or a Google error. */
export type VertexAnswer = string | { status: number; googleStatus: string; message: string };

const ROUTE =
  /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const base64url = (text: string) => Buffer.from(text, 'base64url');

export class FakeVertex {
  readonly url: string;
  readonly tokenUri: string;
  readonly project: string;
  /** How long issued access tokens last. */
  tokenLifetimeSeconds: number;
  readonly tokenRequests: TokenRequest[] = [];
  readonly requests: VertexRequest[] = [];
  readonly #server: Server;
  readonly #accounts = new Map<string, KeyObject>();
  readonly #tokens = new Map<string, { email: string; expiresAt: number }>();
  readonly #answers = new ScriptedAnswers<VertexAnswer, VertexRequest>(loadFixture);

  private constructor(server: Server, url: string, options: { project?: string; tokenLifetimeSeconds?: number }) {
    this.#server = server;
    this.url = url;
    this.tokenUri = `${url}/token`;
    this.project = options.project ?? 'test-project';
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  }

  static async start(options: { project?: string; tokenLifetimeSeconds?: number } = {}): Promise<FakeVertex> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const fake = new FakeVertex(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    server.on('request', (req, res) => void fake.#handle(req, res));
    return fake;
  }

  /** Accepts assertions signed by this account's key. */
  trust(account: Pick<TestServiceAccount, 'email' | 'publicKey'>): void {
    this.#accounts.set(account.email, account.publicKey);
  }

  /** Refuses the account from now on (as a deleted account or key is), and its tokens. */
  revoke(email: string): void {
    this.#accounts.delete(email);
    for (const [token, grant] of this.#tokens) if (grant.email === email) this.#tokens.delete(token);
  }

  enqueue(...answers: VertexAnswer[]): void {
    this.#answers.enqueue(answers);
  }

  /** The answer when nothing is queued: fixed, or chosen per request (as an agent's many calls need). */
  setDefault(answer: DefaultAnswer<VertexAnswer, VertexRequest>): void {
    this.#answers.setDefault(answer);
  }

  reset(): void {
    this.#answers.clear();
    this.requests.length = 0;
    this.tokenRequests.length = 0;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    try {
      for await (const part of req) parts.push(part as Buffer);
    } catch {
      return;
    }
    const body = Buffer.concat(parts).toString('utf8');
    const path = req.url ?? '/';
    if (path === '/token' && req.method === 'POST') return this.#token(req.headers, body, res);
    await this.#vertex(req, path, body, res);
  }

  #token(headers: IncomingHttpHeaders, body: string, res: ServerResponse) {
    const record: TokenRequest = { email: undefined, error: undefined };
    this.tokenRequests.push(record);
    const refuse = (error: string, description: string) => {
      record.error = error;
      sendJson(res, 400, { error, error_description: description });
    };
    if (!String(headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return refuse('invalid_request', 'Invalid Content-Type');
    }
    const form = new URLSearchParams(body);
    const grant = form.get('grant_type');
    if (grant !== JWT_BEARER) return refuse('unsupported_grant_type', `Invalid grant_type: ${grant ?? ''}`);
    const [head, payload, signature, ...extra] = (form.get('assertion') ?? '').split('.');
    let header: { alg?: unknown };
    let claims: { iss?: unknown; aud?: unknown; scope?: unknown; iat?: unknown; exp?: unknown };
    try {
      if (!head || !payload || signature === undefined || extra.length) throw new Error('not a JWT');
      header = JSON.parse(base64url(head).toString('utf8'));
      claims = JSON.parse(base64url(payload).toString('utf8'));
    } catch {
      return refuse('invalid_grant', 'Invalid JWT: not a valid JWS');
    }
    record.email = typeof claims.iss === 'string' ? claims.iss : undefined;
    const key = record.email ? this.#accounts.get(record.email) : undefined;
    if (!key) return refuse('invalid_grant', 'Invalid grant: account not found');
    const signed =
      header.alg === 'RS256' && verify('sha256', Buffer.from(`${head}.${payload}`), key, base64url(signature));
    if (!signed) return refuse('invalid_grant', 'Invalid JWT Signature.');
    // Google's own token URL is the audience Google checks, also behind a private endpoint; this endpoint's URL too.
    if (claims.aud !== GOOGLE_TOKEN_URL && claims.aud !== this.tokenUri) {
      return refuse('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_URL}`);
    }
    const now = Date.now() / 1000;
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp <= iat ||
      exp - iat > 3600 ||
      iat > now + 300 ||
      exp < now
    ) {
      return refuse(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(CLOUD_PLATFORM)) {
      return refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const token = `ya29.${randomBytes(48).toString('base64url')}`;
    this.#tokens.set(token, { email: record.email!, expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000 });
    sendJson(res, 200, { access_token: token, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer' });
  }

  async #vertex(req: IncomingMessage, path: string, body: string, res: ServerResponse): Promise<void> {
    const route = ROUTE.exec(path.split('?', 1)[0]!);
    let model: string | undefined;
    try {
      model = route ? decodeURIComponent(route[3]!) : undefined;
    } catch {}
    let json: any;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {}
    const request: VertexRequest = {
      method: req.method ?? '',
      path,
      headers: req.headers,
      body,
      json,
      project: route?.[1],
      location: route?.[2],
      model,
      specifier: route?.[4] as VertexRequest['specifier'],
      email: undefined,
      refused: undefined,
    };
    this.requests.push(request);
    const refuse = (status: number, googleStatus: string, message: string, reason?: string) => {
      request.refused = googleStatus;
      googleError(res, status, googleStatus, message, reason);
    };

    const bearer = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const grant = bearer ? this.#tokens.get(bearer) : undefined;
    if (!grant || grant.expiresAt <= Date.now()) {
      const reason = !bearer ? 'CREDENTIALS_MISSING' : grant ? 'ACCESS_TOKEN_EXPIRED' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED';
      return refuse(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        reason,
      );
    }
    request.email = grant.email;
    if (!route || req.method !== 'POST' || !model) {
      return refuse(404, 'NOT_FOUND', `The requested URL ${path.slice(0, 200)} was not found on this server.`);
    }
    if (route[1] !== this.project) {
      return refuse(
        403,
        'PERMISSION_DENIED',
        `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com${path.slice(3)}' (or it may not exist).`,
        'IAM_PERMISSION_DENIED',
      );
    }
    const countTokens = model === 'count-tokens';
    const problem = bodyProblem(json, countTokens);
    if (problem) {
      request.refused = 'INVALID_ARGUMENT';
      return sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: problem } });
    }
    if (countTokens) return sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(body.length / 4)) });

    const answer = this.#answers.next(request);
    if (answer === undefined) return googleError(res, 599, 'INTERNAL', 'fake vertex: no answer queued');
    if (typeof answer === 'object') return refuse(answer.status, answer.googleStatus, answer.message);
    const fixture = loadFixture(answer);
    if (route[4] === 'rawPredict') {
      if (fixture.kind !== 'json') return googleError(res, 599, 'INTERNAL', `${answer} is not a JSON fixture`);
      res.writeHead(fixture.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(fixture.body),
      });
      res.end(fixture.body);
      return;
    }
    if (fixture.kind !== 'sse') return googleError(res, 599, 'INTERNAL', `${answer} is not an SSE fixture`);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (const chunk of fixture.chunks) {
      if (res.destroyed) return;
      if ('data' in chunk) res.write(chunk.data);
      else if ('delayMs' in chunk) await sleep(chunk.delayMs);
      else if ('cut' in chunk) {
        res.socket?.destroy();
        return;
      } else return;
    }
    res.end();
  }
}

/** What Vertex (and Anthropic behind it) says of a body that is not a Vertex Anthropic body. */
function bodyProblem(json: unknown, countTokens: boolean): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'Request body must be a JSON object';
  const body = json as Record<string, unknown>;
  if (!('anthropic_version' in body)) return 'anthropic_version: Field required';
  if (typeof body.anthropic_version !== 'string' || !VERTEX_ANTHROPIC_VERSIONS.includes(body.anthropic_version)) {
    return `anthropic_version: Input should be '${VERTEX_ANTHROPIC_VERSIONS[0]}'`;
  }
  // The model is in the path, except for token counting, whose path names no model.
  if (countTokens && typeof body.model !== 'string') return 'model: Field required';
  if (!countTokens && 'model' in body) return 'model: Extra inputs are not permitted';
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function googleError(
  res: ServerResponse,
  status: number,
  googleStatus: string,
  message: string,
  reason?: string,
): void {
  const details = reason
    ? [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason,
          domain: 'googleapis.com',
          metadata: { service: 'aiplatform.googleapis.com' },
        },
      ]
    : undefined;
  if (status === 401)
    res.setHeader('www-authenticate', 'Bearer realm="https://accounts.google.com/", error="invalid_token"');
  sendJson(res, status, { error: { code: status, message, status: googleStatus, ...(details ? { details } : {}) } });
}
