import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { fetch, ProxyAgent } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../src/proxy/ca.ts';
import { openCa } from '../../src/proxy/ca-files.ts';
import { proxyFactsOf } from '../../src/proxy/facts.ts';
import { createProxyMetrics } from '../../src/proxy/metrics.ts';
import type { InterceptingProxy } from '../../src/proxy/server.ts';
import { x509 } from '../../src/proxy/x509.ts';
import { makeCertificate } from '../helpers/certificates.ts';
import {
  ANN,
  askProxy,
  basic,
  connectRequest,
  eventually,
  MAPPED_HOSTS,
  PROXY_TOKEN,
  useInterceptingProxy,
} from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-proxy-');
const run = promisify(execFile);
const TOKEN = PROXY_TOKEN;
const HAS_CURL = existsSync('/usr/bin/curl') || existsSync('/bin/curl');
const fixture = useInterceptingProxy(tempDir);
const { bridge, logs, start } = fixture;
let ca: CertificateAuthority;
let caFile: string;
beforeAll(() => {
  ca = fixture.ca();
  caFile = fixture.caFile();
});

const agentFor = (proxy: InterceptingProxy, trust: string, token = basic('ann', TOKEN)) =>
  new ProxyAgent({ uri: proxy.url, token, requestTls: { ca: trust } });

/** TLS over a tunnel the proxy opened: the client verifies as usual (no rejectUnauthorized: false). */
async function tlsThrough(
  socket: Socket,
  options: { servername?: string; host?: string; ca: string; ALPNProtocols?: string[] },
): Promise<TLSSocket> {
  const tls = tlsConnect({ socket, ALPNProtocols: ['http/1.1'], ...options });
  await once(tls, 'secureConnect');
  return tls;
}

/** One request on an open TLS session, read to the end (the request asks the server to close). */
async function requestOver(tls: TLSSocket, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  tls.on('data', (c: Buffer) => chunks.push(c));
  tls.write(`GET ${path} HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n`);
  await once(tls, 'end');
  return Buffer.concat(chunks).toString();
}

describe('intercepting a mapped host', () => {
  it('serves undici through ProxyAgent: the bridge sees /<provider>/..., decrypted, with the proxy facts', async () => {
    const { proxy, metrics } = await start();
    const dispatcher = agentFor(proxy, ca.certificatePem);
    const res = await fetch('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-client-own-key' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [] }),
      dispatcher,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]!.text).toBe(
      'Hello! How can I help you today?',
    );
    const seen = bridge.requests.at(-1)!;
    expect(seen.url).toBe('/anthropic/v1/messages');
    expect(seen.encrypted).toBe(true);
    expect(seen.facts).toEqual({ host: 'api.anthropic.com', port: 443, provider: 'anthropic', principal: ANN });
    expect(seen.headers['x-api-key']).toBe('sk-ant-client-own-key'); // the bridge's routes strip it, as for any client
    expect(metrics.count('intercepted')).toBe(1);
    expect(metrics.mitm.get('api.anthropic.com')).toBe(1);
    await dispatcher.close();
  });

  it('takes the token as Bearer too', async () => {
    const { proxy, metrics } = await start();
    const dispatcher = agentFor(proxy, ca.certificatePem, `Bearer ${TOKEN}`);
    const res = await fetch('https://api.openai.com/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', messages: [] }),
      dispatcher,
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(bridge.requests.at(-1)!.url).toBe('/openai/v1/chat/completions');
    expect(metrics.mitm.get('api.openai.com')).toBe(1);
    await dispatcher.close();
  });

  it('counts each request of a kept-alive session, the session once', async () => {
    const { proxy, metrics } = await start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.openai.com:443', `Bearer ${TOKEN}`));
    const tls = await tlsThrough(answer.socket, { servername: 'api.openai.com', ca: ca.certificatePem });
    let received = '';
    tls.on('data', (c: Buffer) => (received += c));
    const ask = async (path: string, close: boolean) => {
      const before = (received.match(/HTTP\/1\.1 /g) ?? []).length;
      tls.write(`GET ${path} HTTP/1.1\r\nHost: api.openai.com\r\n${close ? 'Connection: close\r\n' : ''}\r\n`);
      while ((received.match(/HTTP\/1\.1 /g) ?? []).length === before) await once(tls, 'data');
    };
    await ask('/v1/models', false);
    await ask('/v1/models/gpt-4.1', true);
    await once(tls, 'end');
    expect(bridge.requests.slice(-2).map((r) => r.url)).toEqual(['/openai/v1/models', '/openai/v1/models/gpt-4.1']);
    expect(metrics.count('intercepted')).toBe(1);
    expect(metrics.mitm.get('api.openai.com')).toBe(2);
  });

  it.skipIf(!HAS_CURL)('serves curl -x with the CA as its only trust anchor', async () => {
    const { proxy } = await start();
    const { stdout } = await run(
      'curl',
      [
        '-sS',
        '--fail-with-body',
        '-x',
        proxy.url,
        '--proxy-user',
        `ann:${TOKEN}`,
        '--cacert',
        caFile,
        '-H',
        'content-type: application/json',
        '-d',
        '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}',
        'https://api.anthropic.com/v1/messages',
      ],
      { env: { PATH: process.env.PATH } },
    );
    expect(JSON.parse(stdout).content[0].text).toBe('Hello! How can I help you today?');
    expect(bridge.requests.at(-1)!.facts?.principal).toEqual(ANN);
  });

  it('shows a leaf for the host, chained to the CA and verified normally, speaking HTTP/1.1', async () => {
    const { proxy } = await start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', basic('x', TOKEN)));
    expect(answer.head).toBe('HTTP/1.1 200 Connection Established');
    const tls = await tlsThrough(answer.socket, { servername: 'api.anthropic.com', ca: ca.certificatePem });
    expect(tls.authorized).toBe(true);
    expect(tls.alpnProtocol).toBe('http/1.1');
    const leaf = tls.getPeerX509Certificate()!;
    expect(leaf.subjectAltName).toBe('DNS:api.anthropic.com');
    expect(leaf.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(await requestOver(tls, '/v1/models')).toMatch(/^HTTP\/1\.1 404/);
    expect(bridge.requests.at(-1)!.url).toBe('/anthropic/v1/models');
  });

  it('serves a mapped IP address with an IP SAN, and a host mapped with its own port', async () => {
    const { proxy } = await start({ hosts: { ...MAPPED_HOSTS, 'llm.internal.test:8443': 'openai' } });
    const byIp = await askProxy(proxy.address.port, connectRequest('10.9.8.7:443', basic('x', TOKEN)));
    const tls = await tlsThrough(byIp.socket, { host: '10.9.8.7', ca: ca.certificatePem });
    expect(tls.getPeerX509Certificate()!.subjectAltName).toBe('IP Address:10.9.8.7');
    tls.destroy();
    const byPort = await askProxy(proxy.address.port, connectRequest('llm.internal.test:8443', basic('x', TOKEN)));
    const other = await tlsThrough(byPort.socket, { servername: 'llm.internal.test', ca: ca.certificatePem });
    expect(await requestOver(other, '/v1/models')).toMatch(/^HTTP\/1\.1 404/);
    expect(bridge.requests.at(-1)!.facts).toMatchObject({ host: 'llm.internal.test', port: 8443, provider: 'openai' });
  });

  it('sends the issuers given with an intermediate CA, so clients trusting only the root verify', async () => {
    const sign = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
    const root = await makeCertificate({ subject: 'CN=Corp Root', ca: true, keyUsage: sign });
    const intermediate = await makeCertificate({
      subject: 'CN=Corp Proxy CA',
      issuer: root,
      ca: true,
      pathLength: 0,
      keyUsage: sign,
    });
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.pem'), `${intermediate.certPem}\n${root.certPem}`);
    writeFileSync(join(dir, 'ca.key'), intermediate.keyPem, { mode: 0o600 });
    const corporate = await openCa({ certFile: join(dir, 'ca.pem'), keyFile: join(dir, 'ca.key') });
    const { proxy } = await start({ ca: corporate });
    const dispatcher = agentFor(proxy, root.certPem);
    const res = await fetch('https://api.openai.com/v1/models', { dispatcher });
    expect(res.status).toBe(404); // the stand-in has no such route; what matters is the verified handshake
    await res.arrayBuffer();
    await dispatcher.close();
  });

  it('works when the client sends its TLS hello right behind the CONNECT, before the 200', async () => {
    const { proxy } = await start();
    const raw = netConnect(proxy.address.port, '127.0.0.1');
    await once(raw, 'connect');
    const connect = Buffer.from(connectRequest('api.anthropic.com:443', `Bearer ${TOKEN}`));
    const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    let skip = established.length;
    let first = true;
    // The client's first write (its hello) goes out in one packet with the CONNECT; the 200 is skipped on the way in.
    const early = new Duplex({
      write(chunk: Buffer, _encoding, done) {
        raw.write(first ? Buffer.concat([connect, chunk]) : chunk, done);
        first = false;
      },
      read() {},
    });
    raw.on('data', (data: Buffer) => {
      const cut = Math.min(skip, data.length);
      skip -= cut;
      if (data.length > cut) early.push(data.subarray(cut));
    });
    raw.on('end', () => early.push(null));
    const tls = tlsConnect({ socket: early, servername: 'api.anthropic.com', ca: ca.certificatePem });
    await once(tls, 'secureConnect');
    expect(tls.authorized).toBe(true);
    expect(await requestOver(tls, '/v1/models')).toMatch(/^HTTP\/1\.1 404/);
  });

  it('fails the handshake of a client that does not trust the CA, and the proxy goes on', async () => {
    const { proxy } = await start();
    const stranger = await makeCertificate({ subject: 'CN=Some Other CA', ca: true });
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', `Bearer ${TOKEN}`));
    const tls = tlsConnect({ socket: answer.socket, servername: 'api.anthropic.com', ca: stranger.certPem });
    const [err] = (await once(tls, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('SELF_SIGNED_CERT_IN_CHAIN'); // the bridge's CA is sent with the leaf
    const again = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', `Bearer ${TOKEN}`));
    const trusted = await tlsThrough(again.socket, { servername: 'api.anthropic.com', ca: ca.certificatePem });
    expect(trusted.authorized).toBe(true);
    trusted.destroy();
  });

  it.skipIf(!HAS_CURL)('counts a refused certificate as tls_failed and says so in the log', async () => {
    const { proxy, metrics } = await start();
    // curl checks the certificate inside the handshake and sends an alert, so the proxy sees the refusal.
    const stranger = await makeCertificate({ subject: 'CN=Some Other CA', ca: true });
    const strangerFile = join(tempDir(), 'other-ca.pem');
    writeFileSync(strangerFile, stranger.certPem);
    const args = ['-sS', '-x', proxy.url, '--proxy-user', `ann:${TOKEN}`, '--cacert', strangerFile];
    const refused = await run('curl', [...args, 'https://api.anthropic.com/'], {
      env: { PATH: process.env.PATH },
    }).catch((e: { code: number }) => e);
    expect((refused as { code: number }).code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    await eventually(() => metrics.count('tls_failed') === 1);
    expect(metrics.count('intercepted')).toBe(0);
    expect(logs.lines.some((l) => l.includes('TLS handshake with a client failed') && l.includes('unknown ca'))).toBe(
      true,
    );
  });

  it('refuses a TLS server name other than the CONNECT host, and a client speaking only h2', async () => {
    const { proxy, metrics } = await start();
    const bySni = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', `Bearer ${TOKEN}`));
    const wrongName = tlsConnect({ socket: bySni.socket, servername: 'api.openai.com', ca: ca.certificatePem });
    await once(wrongName, 'error');
    const byAlpn = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', `Bearer ${TOKEN}`));
    const h2 = tlsConnect({
      socket: byAlpn.socket,
      servername: 'api.anthropic.com',
      ca: ca.certificatePem,
      ALPNProtocols: ['h2'],
    });
    await once(h2, 'error');
    await eventually(() => metrics.count('tls_failed') === 2);
    expect(metrics.count('intercepted')).toBe(0);
  });

  it('tags only the sockets it hands over', async () => {
    const { proxy } = await start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.openai.com:443', `Bearer ${TOKEN}`));
    const tls = await tlsThrough(answer.socket, { servername: 'api.openai.com', ca: ca.certificatePem });
    await requestOver(tls, '/v1/models');
    expect(proxyFactsOf(tls)).toBeUndefined(); // the client's side of the session carries nothing
    expect(proxyFactsOf(undefined)).toBeUndefined();
  });
});

describe('prometheus series', () => {
  it('are the names README lists, every result present from the start', async () => {
    const registry = new Registry();
    const { proxy } = await start({ metrics: createProxyMetrics(registry) });
    const dispatcher = agentFor(proxy, ca.certificatePem);
    const res = await fetch('https://api.openai.com/v1/models', { dispatcher });
    await res.arrayBuffer();
    await dispatcher.close();
    const text = await registry.metrics();
    expect(text).toContain('aibridge_proxy_connect_sessions_total{result="intercepted"} 1');
    expect(text).toContain('aibridge_proxy_connect_sessions_total{result="tls_failed"} 0');
    expect(text).toContain('aibridge_proxy_mitm_requests_total{host="api.openai.com"} 1');
    expect(text).toContain('aibridge_proxy_tunnelled_bytes_total 0');
  });
});
