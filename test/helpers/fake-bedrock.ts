import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { SseParser } from '../../src/providers/sse.ts';
import { type DefaultAnswer, ScriptedAnswers } from './scripted-answers.ts';
import { type AwsKey, verifySigV4 } from './sigv4-verify.ts';
import { loadFixture, type SseChunk } from './upstream.ts';

/**
 * A fake bedrock-runtime (InvokeModel, its response stream, CountTokens; and the control-plane
 * inference-profile list) on loopback. It checks
 * what AWS checks: a valid SigV4 signature for `bedrock` in its region by a key it knows, and a
 * Bedrock Anthropic body; it answers from `fixtures/` (SSE fixtures re-framed as the binary
 * event stream, with the invocation metrics Bedrock adds) and records every request.
 */

/** AWS's documented example key pair: never a real credential. */
export const TEST_AWS_KEY: AwsKey = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/**
 * `anthropic_version` values accepted: Bedrock's own, and the dated API version the Anthropic
 * Bedrock SDK 1.x copies from its `anthropic-version` header.
 */
export const BEDROCK_ANTHROPIC_VERSIONS = ['bedrock-2023-05-31', '2026-10-21'];

export type BedrockOperation = 'invoke' | 'invoke-with-response-stream' | 'count-tokens' | 'list-inference-profiles';

export interface BedrockRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  operation: BedrockOperation | undefined;
  /** The decoded `{modelId}` of an invoke. */
  modelId: string | undefined;
  /** The key that signed it, when the signature held. */
  accessKeyId: string | undefined;
  /** The error type it was refused with, if it was. */
  refused: string | undefined;
}

/**
 * What to answer: a fixture path (`.json` for invoke, `.sse` for the stream); an HTTP error; or
 * a stream that ends with an exception frame after `afterEvents` events (default: all of them).
 */
export type BedrockAnswer =
  | string
  | { error: string; status: number; message?: string }
  | { fixture: string; exception: string; message?: string; afterEvents?: number };

export interface FakeBedrockOptions {
  region?: string;
  keys?: AwsKey[];
  anthropicVersions?: string[];
  /** `inferenceProfileSummaries` of the control-plane list; a default pair of Claude profiles otherwise. */
  inferenceProfiles?: Array<Record<string, unknown>>;
}

const MAX_BODY_BYTES = 20 * 1024 * 1024;
const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const utf8 = new TextEncoder();
const codec = new EventStreamCodec(
  (bytes) => new TextDecoder().decode(bytes),
  (text) => utf8.encode(text),
);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function defaultProfiles(region: string): Array<Record<string, unknown>> {
  return ['claude-sonnet-4-5-20250929-v1:0', 'claude-haiku-4-5-20251001-v1:0'].map((model) => ({
    inferenceProfileName: `US Anthropic ${model}`,
    description: `Routes requests to ${model} in US regions.`,
    createdAt: '2025-09-29T00:00:00Z',
    updatedAt: '2025-09-29T00:00:00Z',
    inferenceProfileArn: `arn:aws:bedrock:${region}:123456789012:inference-profile/us.anthropic.${model}`,
    models: ['us-east-1', 'us-east-2', 'us-west-2'].map((r) => ({
      modelArn: `arn:aws:bedrock:${r}::foundation-model/anthropic.${model}`,
    })),
    inferenceProfileId: `us.anthropic.${model}`,
    status: 'ACTIVE',
    type: 'SYSTEM_DEFINED',
  }));
}

export class FakeBedrock {
  readonly url: string;
  readonly region: string;
  /** Keys it accepts; add to it to accept credentials issued later (e.g. by a fake STS). */
  readonly keys: AwsKey[];
  readonly requests: BedrockRequest[] = [];
  readonly #server: Server;
  readonly #versions: Set<string>;
  readonly #profiles: Array<Record<string, unknown>>;
  readonly #answers = new ScriptedAnswers<BedrockAnswer, BedrockRequest>(loadFixture);

  private constructor(server: Server, url: string, options: FakeBedrockOptions) {
    this.#server = server;
    this.url = url;
    this.region = options.region ?? 'us-east-1';
    this.keys = [...(options.keys ?? [TEST_AWS_KEY])];
    this.#versions = new Set(options.anthropicVersions ?? BEDROCK_ANTHROPIC_VERSIONS);
    this.#profiles = options.inferenceProfiles ?? defaultProfiles(this.region);
  }

  static async start(options: FakeBedrockOptions = {}): Promise<FakeBedrock> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeBedrock(server, `http://127.0.0.1:${port}`, options);
    server.on('request', (req, res) => void fake.#handle(req, res));
    return fake;
  }

  /** Queues answers; each invoke takes the next one. */
  enqueue(...answers: BedrockAnswer[]): void {
    this.#answers.enqueue(answers);
  }

  /** The answer when the queue is empty (otherwise such an invoke gets a 599): fixed, or chosen per request. */
  setDefault(answer: DefaultAnswer<BedrockAnswer, BedrockRequest>): void {
    this.#answers.setDefault(answer);
  }

  reset(): void {
    this.#answers.clear();
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    let size = 0;
    try {
      for await (const part of req) {
        size += (part as Buffer).byteLength;
        if (size > MAX_BODY_BYTES) return awsError(res, 413, 'ValidationException', 'Request body too large');
        parts.push(part as Buffer);
      }
    } catch {
      return;
    }
    const body = Buffer.concat(parts);
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0]!;
    const route = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|count-tokens)$/.exec(path);
    const operation: BedrockOperation | undefined = route
      ? (route[2] as BedrockOperation)
      : path === '/inference-profiles' && req.method === 'GET'
        ? 'list-inference-profiles'
        : undefined;
    let modelId: string | undefined;
    try {
      modelId = route ? decodeURIComponent(route[1]!) : undefined;
    } catch {}
    let json: unknown;
    try {
      json = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {}
    const request: BedrockRequest = {
      method: req.method ?? '',
      path: url,
      headers: req.headers,
      body: body.toString('utf8'),
      json,
      operation,
      modelId,
      accessKeyId: undefined,
      refused: undefined,
    };
    this.requests.push(request);
    const refuse = (status: number, type: string, message: string) => {
      request.refused = type;
      awsError(res, status, type, message);
    };

    const verdict = await verifySigV4(
      { method: req.method ?? '', url, headers: req.headers, body },
      { region: this.region, service: 'bedrock', keys: this.keys },
    );
    if (!verdict.ok) return refuse(verdict.status, verdict.errorType, verdict.message);
    request.accessKeyId = verdict.key.accessKeyId;

    if (operation === 'list-inference-profiles') return this.#listProfiles(url, res);
    if (!operation || req.method !== 'POST') {
      return refuse(404, 'UnknownOperationException', `Unknown operation ${req.method} ${path}`);
    }
    if (!modelId || !/^[A-Za-z0-9._:/-]{1,2048}$/.test(modelId)) {
      return refuse(400, 'ValidationException', 'The provided model identifier is invalid.');
    }
    if (operation === 'count-tokens') return this.#countTokens(json, res, refuse);
    const problem = this.#bodyProblem(json);
    if (problem) return refuse(400, 'ValidationException', problem);

    const answer = this.#answers.next(request);
    if (answer === undefined) return awsError(res, 599, 'FakeBedrockError', 'no answer queued');
    if (typeof answer === 'object' && 'error' in answer) {
      return awsError(res, answer.status, answer.error, answer.message ?? `${answer.error} (scripted)`);
    }
    const fixturePath = typeof answer === 'string' ? answer : answer.fixture;
    const fixture = loadFixture(fixturePath);
    if (operation === 'invoke') {
      if (fixture.kind !== 'json')
        return awsError(res, 599, 'FakeBedrockError', `${fixturePath} is not a JSON fixture`);
      return answerJson(res, fixture.status, fixture.body);
    }
    if (fixture.kind !== 'sse') return awsError(res, 599, 'FakeBedrockError', `${fixturePath} is not an SSE fixture`);
    const exception = typeof answer === 'object' ? answer : undefined;
    await this.#stream(res, fixture.chunks, exception);
  }

  #bodyProblem(json: unknown): string | undefined {
    const malformed = (what: string) => `Malformed input request: ${what}, please reformat your input and try again.`;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      return malformed('#: expected type: JSONObject');
    }
    const body = json as Record<string, unknown>;
    if (!('anthropic_version' in body)) return malformed('#: required key [anthropic_version] not found');
    if (typeof body.anthropic_version !== 'string' || !this.#versions.has(body.anthropic_version)) {
      return malformed(`#/anthropic_version: ${JSON.stringify(body.anthropic_version)} is not a supported version`);
    }
    for (const key of ['model', 'stream']) {
      if (key in body) return malformed(`#: extraneous key [${key}] is not permitted`);
    }
    return undefined;
  }

  /** CountTokens: `{input: {invokeModel: {body}}}` (the InvokeModel body, base64) or `{input: {converse: …}}`; free. */
  #countTokens(json: unknown, res: ServerResponse, refuse: (status: number, type: string, message: string) => void) {
    const input = (json as { input?: { invokeModel?: { body?: unknown }; converse?: unknown } } | undefined)?.input;
    let counted: string | undefined;
    if (typeof input?.invokeModel?.body === 'string') {
      const body = Buffer.from(input.invokeModel.body, 'base64').toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {}
      const problem = this.#bodyProblem(parsed);
      if (problem) return refuse(400, 'ValidationException', problem);
      counted = body;
    } else if (input?.converse && typeof input.converse === 'object') {
      counted = JSON.stringify(input.converse);
    }
    if (counted === undefined)
      return refuse(400, 'ValidationException', '1 validation error detected: input is required');
    answerJson(res, 200, JSON.stringify({ inputTokens: Math.max(1, Math.ceil(counted.length / 4)) }));
  }

  #listProfiles(url: string, res: ServerResponse): void {
    const params = new URL(url, 'http://x').searchParams;
    const type = params.get('type');
    const max = Number(params.get('maxResults') ?? 1000);
    const summaries = this.#profiles.filter((p) => !type || p.type === type).slice(0, max);
    answerJson(res, 200, JSON.stringify({ inferenceProfileSummaries: summaries }));
  }

  async #stream(
    res: ServerResponse,
    chunks: SseChunk[],
    exception: { exception: string; message?: string; afterEvents?: number } | undefined,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-requestid': randomUUID(),
      'x-amzn-bedrock-content-type': 'application/json',
    });
    res.flushHeaders();
    const parser = new SseParser();
    const usage = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    const started = Date.now();
    let sent = 0;
    const limit = exception?.afterEvents ?? Number.POSITIVE_INFINITY;
    for (const chunk of chunks) {
      if (res.destroyed) return;
      if ('delayMs' in chunk) {
        await sleep(chunk.delayMs);
        continue;
      }
      if ('cut' in chunk) {
        res.socket?.destroy();
        return;
      }
      if ('hang' in chunk) return;
      for (const event of parser.push(chunk.data)) {
        if (sent >= limit) break;
        const data = withMetrics(event.data, usage, started);
        await write(res, chunkFrame(data, sent));
        sent++;
      }
    }
    if (exception) {
      await write(res, exceptionFrame(exception.exception, exception.message ?? `${exception.exception} (scripted)`));
    }
    res.end();
  }
}

/** Notes usage as the stream goes and adds `amazon-bedrock-invocationMetrics` to `message_stop`, as Bedrock does. */
function withMetrics(
  data: string,
  usage: { input: number; output: number; cacheRead: number; cacheWrite: number },
  started: number,
): string {
  const event = JSON.parse(data) as Record<string, any>;
  const counts =
    event.type === 'message_start' ? event.message?.usage : event.type === 'message_delta' ? event.usage : undefined;
  if (counts) {
    usage.input = counts.input_tokens ?? usage.input;
    usage.output = counts.output_tokens ?? usage.output;
    usage.cacheRead = counts.cache_read_input_tokens ?? usage.cacheRead;
    usage.cacheWrite = counts.cache_creation_input_tokens ?? usage.cacheWrite;
  }
  if (event.type !== 'message_stop') return data;
  const latency = Math.max(1, Date.now() - started);
  event['amazon-bedrock-invocationMetrics'] = {
    inputTokenCount: usage.input,
    outputTokenCount: usage.output,
    invocationLatency: latency,
    firstByteLatency: Math.max(1, Math.floor(latency / 2)),
    cacheReadInputTokenCount: usage.cacheRead,
    cacheWriteInputTokenCount: usage.cacheWrite,
  };
  return JSON.stringify(event);
}

const stringHeader = (value: string) => ({ type: 'string' as const, value });

/** A chunk frame; Bedrock pads each payload with a `p` field of varying length, which readers ignore. */
function chunkFrame(eventJson: string, index: number): Uint8Array {
  const payload = {
    bytes: Buffer.from(eventJson).toString('base64'),
    p: PADDING.slice(0, 1 + ((index * 7) % PADDING.length)),
  };
  return codec.encode({
    headers: {
      ':event-type': stringHeader('chunk'),
      ':content-type': stringHeader('application/json'),
      ':message-type': stringHeader('event'),
    },
    body: utf8.encode(JSON.stringify(payload)),
  });
}

function exceptionFrame(type: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':exception-type': stringHeader(type),
      ':content-type': stringHeader('application/json'),
      ':message-type': stringHeader('exception'),
    },
    body: utf8.encode(JSON.stringify({ message })),
  });
}

/** Anthropic error fixtures (`http-429.json`…) answered in Bedrock's words. */
const BEDROCK_ERROR_OF_STATUS: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
  529: 'ServiceUnavailableException',
};

function answerJson(res: ServerResponse, status: number, body: string): void {
  if (status >= 400) {
    const message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? 'error';
    const type = BEDROCK_ERROR_OF_STATUS[status] ?? 'InternalServerException';
    awsError(res, status === 529 ? 503 : status, type, message);
    return;
  }
  const usage = (JSON.parse(body) as { usage?: { input_tokens?: number; output_tokens?: number } }).usage;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    ...(usage
      ? {
          'x-amzn-bedrock-invocation-latency': '420',
          'x-amzn-bedrock-input-token-count': String(usage.input_tokens ?? 0),
          'x-amzn-bedrock-output-token-count': String(usage.output_tokens ?? 0),
        }
      : {}),
  });
  res.end(body);
}

/** An AWS JSON error: the type in `x-amzn-errortype` (with the service suffix AWS adds), the message in the body. */
function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.coral.service/`,
  });
  res.end(body);
}

function write(res: ServerResponse, data: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('close', done);
      resolve();
    };
    res.once('close', done);
    res.write(data, done);
  });
}
