/**
 * The intercepting proxy across a bridge's life: tunnels to hosts it does not map (the far
 * end's own certificate, untouched), a reload that changes what it maps and whether it
 * tunnels, a setting that needs a restart, and a shutdown that lets a proxied stream finish
 * and be recorded before the recorder closes.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { ProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFileBridge, startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { selfSignedTlsServer } from '../helpers/certificates.ts';
import { type TestStore, testStore } from '../helpers/db.ts';
import { askProxy, basic, connectRequest } from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';
import { manifest, ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-proxy-life-');
const facts = manifest();
const REPLY = 'served by the tunnelled server itself';
const ASK = { model: 'claude-test-1', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hi' }] };

let upstream: ReplayUpstream;
let store: TestStore;
let bridge: TestBridge;
let token: string;
let file: string;
let dataDir: string;
let caPem: string;
let far: Awaited<ReturnType<typeof selfSignedTlsServer>>;
const dispatchers: ProxyAgent[] = [];

function config(proxy: Record<string, unknown>) {
  return {
    listen: '127.0.0.1:0',
    data_dir: dataDir,
    retention: 0,
    providers: [
      { name: 'openai', type: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-openai-key' },
      { name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' },
    ],
    proxy: { listen: '127.0.0.1:0', hosts: { 'api.anthropic.com': 'anthropic' }, tunnel_private: true, ...proxy },
  };
}
const write = (doc: object) => writeFileSync(file, JSON.stringify(doc, null, 2));

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  far = await selfSignedTlsServer(REPLY);
  const dir = tempDir();
  dataDir = join(dir, 'data');
  file = join(dir, 'aibridge.json');
  write(config({}));
  store = await testStore('embedded', 'proxy-lifecycle');
  bridge = await startFileBridge(store, file);
  token = (await bridge.user('dev')).token;
  caPem = readFileSync(join(dataDir, 'proxy', 'ca.crt'), 'utf8');
});

afterAll(async () => {
  await Promise.all(dispatchers.map((d) => d.close()));
  await bridge?.close();
  await store?.close();
  await upstream?.close();
  far?.server.close();
});

const proxyPort = () => bridge.proxy!.address.port;

function through(): ProxyAgent {
  const dispatcher = new ProxyAgent({ uri: bridge.proxy!.url, token: basic('dev', token), requestTls: { ca: caPem } });
  dispatchers.push(dispatcher);
  return dispatcher;
}

describe('a host the proxy does not map', () => {
  it('is tunnelled byte for byte: the client sees the far server’s own certificate and trusts only that', async () => {
    const answer = await askProxy(proxyPort(), connectRequest(`127.0.0.1:${far.port}`, basic('dev', token)));
    expect(answer.status).toBe(200);
    const tls = tlsConnect({ socket: answer.socket, servername: 'localhost', ca: far.certPem });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const seen = tls.getPeerX509Certificate()!;
    expect(seen.fingerprint256).toBe(new X509Certificate(far.certPem).fingerprint256);
    expect(seen.checkIssued(new X509Certificate(caPem))).toBe(false);
    let received = '';
    tls.on('data', (c: Buffer) => (received += c));
    tls.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await new Promise((resolve) => tls.once('end', resolve));
    expect(received).toContain(REPLY);
    tls.destroy();
  });
});

describe('a reload', () => {
  it('applies new hosts and tunnel: deny to the CONNECTs that follow', async () => {
    write(config({ hosts: { 'api.anthropic.com': 'anthropic', 'api.openai.com': 'openai' }, tunnel: 'deny' }));
    const result = await bridge.reload('SIGHUP');
    expect(result).toMatchObject({ result: 'ok', changes: { needRestart: [] } });
    expect(result.result === 'ok' && result.changes.sections).toContain('proxy');

    const refused = await askProxy(proxyPort(), connectRequest(`127.0.0.1:${far.port}`, basic('dev', token)));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.message).toMatch(/proxy\.tunnel: deny/);

    upstream.enqueue('openai-chat/text.json');
    const openai = new OpenAI({ apiKey: 'sk-own', fetchOptions: { dispatcher: through() }, maxRetries: 0 });
    const completion = await openai.chat.completions.create({
      model: 'gpt-test-1',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.choices[0]!.message.content).toBe(facts['openai-chat/text.json']!.text);
    expect(upstream.requests.at(-1)!.headers.authorization).toBe('Bearer sk-upstream-openai-key');
  });

  it('keeps the listener and says a restart is needed when proxy.listen changes', async () => {
    const before = proxyPort();
    write(config({ listen: '127.0.0.1:1', tunnel: 'deny' }));
    const result = await bridge.reload('SIGHUP');
    expect(result).toMatchObject({ result: 'ok', changes: { needRestart: ['proxy.listen'] } });
    expect(proxyPort()).toBe(before);
    expect(bridge.ctx.config.proxy?.listen).toBe('127.0.0.1:0');
    // hosts went back to one, and that reload took effect: api.openai.com is now neither served nor tunnelled.
    const answer = await askProxy(before, connectRequest('api.openai.com:443', basic('dev', token)));
    expect(answer.status).toBe(403);
  });

  it('refuses a file whose hosts name no provider, keeping the running proxy', async () => {
    write(config({ hosts: { 'api.anthropic.com': 'claude' } }));
    const result = await bridge.reload('SIGHUP');
    expect(result).toEqual({
      result: 'refused',
      problems: ['proxy.hosts["api.anthropic.com"]: names no configured provider ("claude")'],
    });
    const answer = await askProxy(proxyPort(), connectRequest('api.anthropic.com:443', basic('dev', token)));
    expect(answer.status).toBe(200);
    answer.socket.destroy();
  });
});

describe('shutting down', () => {
  it('lets a proxied stream in flight finish and be recorded; the proxy takes no new CONNECT', async () => {
    upstream.enqueue('anthropic-messages/slow-text.sse');
    const anthropic = new Anthropic({
      apiKey: 'sk-ant-own',
      baseURL: 'https://api.anthropic.com',
      fetchOptions: { dispatcher: through() },
      maxRetries: 0,
    });
    const stream = anthropic.messages.stream({ ...ASK, stream: true } as typeof ASK);
    let text = '';
    const firstText = new Promise<void>((resolve) =>
      stream.on('text', (delta) => {
        text += delta;
        resolve();
      }),
    );
    await firstText;
    const port = proxyPort();
    const closed = bridge.close();
    await stream.finalMessage();
    expect(text).toBe(facts['anthropic-messages/slow-text.sse']!.text);
    await closed;

    const refused = await new Promise<string>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => resolve('connected'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    const [detail] = await store.audit.list({}, { limit: 1 });
    expect(detail?.interception).toMatchObject({
      status: 'completed',
      metadata: expect.objectContaining({ via: 'proxy', proxy_host: 'api.anthropic.com' }),
    });
    expect(detail?.token_usages).toHaveLength(1);
  });
});

describe('a start that cannot open the proxy', () => {
  it('stops with one line naming the setting: its port taken, or its CA files unreadable', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const other = await testStore('embedded', 'proxy-lifecycle-start');
    const dir = tempDir();
    const start = (proxy: Record<string, unknown>) =>
      startTestBridge(other, {
        data_dir: join(dir, 'data'),
        providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'k' }],
        proxy: { listen: '127.0.0.1:0', hosts: { 'api.anthropic.com': 'anthropic' }, ...proxy },
      });
    try {
      await expect(start({ listen: `127.0.0.1:${port}` })).rejects.toThrow(
        `cannot listen on 127.0.0.1:${port} (proxy.listen): address already in use`,
      );
      const missing = join(dir, 'no-such-ca.pem');
      await expect(start({ ca_cert: missing, ca_key: missing })).rejects.toThrow(
        `proxy.ca_cert (${missing}): cannot be read (ENOENT)`,
      );
    } finally {
      taken.close();
      await other.close();
    }
  });
});
