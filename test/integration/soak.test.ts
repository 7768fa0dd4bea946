import { mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { runCli, waitUntil } from '../helpers/process.ts';
import { rawExchange, rawRequest } from '../helpers/raw-http.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/**
 * A bounded soak: hostile traffic (traversals, huge and slow bodies, invented model names, bad
 * and deep JSON, oversized headers, loops, aborted streams) interleaved with normal requests,
 * against a bridge in its own process so its memory is its own.
 */

const tempDir = tempDirs('aibridge-soak-');
const SOAK_MS = Number(process.env.SOAK_MS ?? 20_000);
const MB = 1024 * 1024;

let upstream: ReplayUpstream;
let server: ChildServer;
let mallory: string;
let dataDir: string;

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.setDefault((r) => {
    if (r.json?.model === 'hang')
      return r.path.includes('/messages') ? 'anthropic-messages/hang.sse' : 'openai-chat/hang.sse';
    if (r.path.includes('/chat/completions')) return 'openai-chat/text.json';
    if (r.path.includes('/count_tokens')) return 'anthropic-passthrough/count-tokens.json';
    if (r.path.includes('/models')) return 'openai-passthrough/models.json';
    return 'anthropic-messages/text.json';
  });
  dataDir = join(tempDir(), 'server');
  mkdirSync(dataDir);
  server = await startChildServer(dataDir, {
    providers: [
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' },
    ],
    limits: { body_bytes: 4 * MB, body_timeout: '5s', breaker_threshold: 3 },
  });
  const created = await runCli(['users', 'create', 'mallory', '--config', server.configFile]);
  mallory = created.stdout.trim().split('\n').at(-1) as string;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.close();
});

const json = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
const ask = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extra });

/** Resolves with the status, or 0 when the connection failed: hostile requests may be cut, never hang. */
const status = (p: Promise<{ status: number }>) => p.then((r) => r.status).catch(() => 0);

function slowBody(url: string, token: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const req = httpRequest({
      host: hostname,
      port,
      method: 'POST',
      path: '/anthropic/v1/messages',
      headers: { ...json(token), 'content-length': '5000' },
      agent: false,
    });
    const trickle = setInterval(() => req.write(' '), 300);
    const done = (code: number) => {
      clearInterval(trickle);
      req.destroy();
      resolve(code);
    };
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => done(0));
    req.write('{"model":');
  });
}

async function abortedStream(url: string, token: string): Promise<void> {
  const controller = new AbortController();
  const res = await fetch(`${url}/anthropic/v1/messages`, {
    method: 'POST',
    signal: controller.signal,
    headers: json(token),
    body: ask('hang', { stream: true }),
  }).catch(() => undefined);
  await res?.body
    ?.getReader()
    .read()
    .catch(() => {});
  controller.abort();
}

describe('soak: hostile traffic interleaved with normal requests', () => {
  it('stays healthy and small, and answers and records every normal request', async () => {
    const owner = server.token;
    const start = server.memory().rss;
    const normal: number[] = [];
    const hostile: Array<Promise<unknown>> = [];
    const deep = `{"model":"m","messages":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const huge = Buffer.alloc(5 * MB, 0x20);
    let hop: string | undefined;
    let round = 0;
    const deadline = Date.now() + SOAK_MS;
    while (Date.now() < deadline) {
      round++;
      const url = server.url;
      hostile.push(slowBody(url, mallory), abortedStream(url, mallory));
      const results = await Promise.all([
        // normal
        status(
          rawRequest(url, '/anthropic/v1/messages', { method: 'POST', headers: json(owner), body: ask('claude-ok') }),
        ),
        status(
          rawRequest(url, '/openai/v1/chat/completions', {
            method: 'POST',
            headers: json(owner),
            body: JSON.stringify({ model: 'gpt-ok', messages: [{ role: 'user', content: 'hi' }] }),
          }),
        ),
        // hostile
        status(
          rawRequest(url, '/openai/v1/responses/../chat/completions', {
            method: 'POST',
            headers: json(mallory),
            body: '{}',
          }),
        ),
        status(rawRequest(url, '/anthropic/v1/models/%2e%2e/message_batches', { headers: json(mallory) })),
        status(rawRequest(url, '/openai//v1/models', { headers: json(mallory) })),
        status(
          rawRequest(url, '/anthropic/v1/messages', {
            method: 'POST',
            headers: json(mallory),
            body: ask(`invented-${round}-${Math.random()}`),
          }),
        ),
        status(
          rawRequest(url, '/anthropic/v1/messages', { method: 'POST', headers: json(mallory), body: '{"model": [' }),
        ),
        status(rawRequest(url, '/anthropic/v1/messages', { method: 'POST', headers: json(mallory), body: deep })),
        status(rawRequest(url, '/anthropic/v1/messages', { method: 'POST', headers: json(mallory), body: huge })),
        status(rawRequest(url, '/anthropic/v1/messages', { method: 'POST', headers: {}, body: huge })),
        status(
          rawRequest(url, '/anthropic/v1/messages', {
            method: 'POST',
            headers: { ...json(mallory), 'x-aibridge-hop': hop ?? 'someone-else' },
            body: ask('claude-ok'),
          }),
        ),
        rawExchange(url, `GET /anthropic/v1/models HTTP/1.1\r\nhost: x\r\nx-pad: ${'p'.repeat(70_000)}\r\n\r\n`)
          .then((text) => Number(text.slice(9, 12)))
          .catch(() => 0),
      ]);
      hop ??= upstream.requests.find((r) => r.headers['x-aibridge-hop'])?.headers['x-aibridge-hop'] as string;
      normal.push(results[0] as number, results[1] as number);
      const [, , traversal1, traversal2, slashes, , badJson, deepJson, tooLarge, unauthenticated, , headers] = results;
      expect([traversal1, traversal2, slashes, badJson, deepJson]).toEqual([400, 400, 400, 400, 400]);
      expect([tooLarge, unauthenticated, headers]).toEqual([413, 401, 431]);
    }
    const slow = await Promise.all(hostile);
    // Said as "none other than": a failure shows the statuses that were not.
    expect(slow.filter((s) => typeof s === 'number' && s !== 408)).toEqual([]);

    expect(normal.filter((s) => s !== 200)).toEqual([]);
    // Fresh connections: a spare the soak's fetch pool opened and never used is closed by the bridge as idle.
    expect((await rawRequest(server.url, '/healthz')).status).toBe(200);
    const metrics = (await rawRequest(server.url, '/metrics')).text;
    expect(metrics.length).toBeLessThan(MB);
    const grown = server.memory().rss - start;
    expect(grown, `RSS grew ${grown >> 20} MB over ${round} rounds`).toBeLessThan(200 * MB);
    expect(upstream.requests.filter((r) => /\/\.\.?(\/|$)|\/\/|%2e/i.test(r.path))).toEqual([]);

    // Every normal request recorded for its user, completed.
    const store = openEmbeddedStore(join(dataDir, 'data'), 'inline');
    try {
      const owner = await store.identity.userByUsername('admin');
      const completed = { initiator_id: owner?._id, status: 'completed' as const };
      let recorded = 0;
      await waitUntil(async () => {
        recorded = await store.audit.count(completed);
        return recorded >= normal.length;
      }, 30_000).catch(() => {});
      expect(recorded).toBe(normal.length);
    } finally {
      await store.close();
    }
  }, 60_000);
});
