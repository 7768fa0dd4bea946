// The agents benchmark's upstream: Anthropic Messages and OpenAI Responses answered by the
// scripted model (model.ts) with a model's pace — the first token after --ttft-ms, then one event
// every --token-ms — and a real MCP server (the tests' own) for the tool loop.
// node bench/agents/upstream.ts [--port N] [--mcp-port N] [--ttft-ms N] [--token-ms N] [--tokens N] [--side-ms N]
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startTestMcpServer } from '../../test/helpers/mcp-server.ts';
import { answerMessages, messagesJson, messagesStream } from './messages.ts';
import { deltas, Refusal, UPSTREAM_KEYS } from './model.ts';
import { answerResponses, responsesStream } from './responses.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const TTFT_MS = arg('--ttft-ms', 200);
const TOKEN_MS = arg('--token-ms', 10);
const TOKENS = arg('--tokens', 24);
const SIDE_MS = arg('--side-ms', 60);
/** Bodies past this are refused, as a real API's limit would. */
const MAX_BODY = 32 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size <= MAX_BODY) parts.push(part);
    });
    req.on('end', () => resolve(size <= MAX_BODY ? Buffer.concat(parts) : undefined));
    req.on('error', () => resolve(undefined));
  });
}

function refuse(res: ServerResponse, anthropic: boolean, status: number, message: string): void {
  const body = anthropic
    ? { type: 'error', error: { type: status === 401 ? 'authentication_error' : 'invalid_request_error', message } }
    : { error: { message, type: 'invalid_request_error', param: null, code: null } };
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Writes each group at the model's pace; stops when the reader goes away. */
async function stream(res: ServerResponse, groups: string[]): Promise<void> {
  await sleep(TTFT_MS);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  for (let i = 0; i < groups.length; i++) {
    if (res.destroyed) return;
    if (i > 0) await sleep(TOKEN_MS);
    res.write(groups[i]);
  }
  res.end();
}

/** The upstream's own event-loop lag since last asked: when it lags, every system's tail is partly its own. */
const LAG_RESOLUTION_MS = 10;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
lag.enable();

function stats(res: ServerResponse): void {
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
  const text = JSON.stringify({ lag_p99_ms: ms(lag.percentile(99)), lag_max_ms: ms(lag.max) });
  lag.reset();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(text);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && path === '/bench/stats') return stats(res);
  const anthropic = path === '/v1/messages';
  if (req.method !== 'POST' || (!anthropic && path !== '/v1/responses')) {
    refuse(res, anthropic, 404, `no route for ${req.method} ${path}`);
    return;
  }
  const raw = await readBody(req);
  if (!raw) return refuse(res, anthropic, 413, 'request body too large');
  const key = anthropic ? req.headers['x-api-key'] : req.headers.authorization;
  if (key !== (anthropic ? UPSTREAM_KEYS.anthropic : `Bearer ${UPSTREAM_KEYS.openai}`))
    return refuse(res, anthropic, 401, 'invalid x-api-key');
  if (anthropic && !req.headers['anthropic-version'])
    return refuse(res, true, 400, 'anthropic-version: header is required');
  let body: Record<string, any>;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return refuse(res, anthropic, 400, `The request body is not valid JSON: ${(err as Error).message}`);
  }
  let answer: ReturnType<typeof answerMessages>;
  try {
    answer = anthropic ? answerMessages(body) : answerResponses(body);
  } catch (err) {
    if (err instanceof Refusal) return refuse(res, anthropic, err.status, err.message);
    throw err;
  }
  const model = String(body.model);
  if (body.stream !== true) {
    // Only Claude Code's side requests are blocking here (a fast model's short answer).
    if (!anthropic) return refuse(res, false, 400, 'bench upstream: only streaming Responses are scripted');
    await sleep(SIDE_MS);
    const text = messagesJson(answer, model, raw.length);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const tokens = deltas('id' in answer ? answer.id : answer.text, 'tool' in answer ? Math.ceil(TOKENS / 4) : TOKENS);
  const render = anthropic ? messagesStream : responsesStream;
  await stream(res, render(answer, model, tokens, raw.length));
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) refuse(res, true, 500, `bench upstream: ${(err as Error).message}`);
    else res.destroy();
  });
});
server.keepAliveTimeout = 75_000;
server.listen(arg('--port', 0), '127.0.0.1', async () => {
  const mcp = await startTestMcpServer({ extraTools: 0, port: arg('--mcp-port', 0) });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.stdout.write(`${JSON.stringify({ upstream: url, mcp: mcp.url })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
