import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { fetch, ProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress } from '../../src/proxy/target.ts';
import { selfSignedTlsServer } from '../helpers/certificates.ts';
import { askProxy, basic, connectRequest, eventually, PROXY_TOKEN, useInterceptingProxy } from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-proxy-tunnel-');
const fixture = useInterceptingProxy(tempDir);
const run = promisify(execFile);
const HAS_CURL = existsSync('/usr/bin/curl') || existsSync('/bin/curl');
const AUTH = `Bearer ${PROXY_TOKEN}`;
const REPLY = 'served by the tunnelled server itself';

let target: Awaited<ReturnType<typeof selfSignedTlsServer>>;
const servers: Server[] = [];

/** A plain TCP server on loopback for the tunnel's far end; closed after the file. */
async function tcpServer(onSocket: (socket: Socket) => void, allowHalfOpen = false): Promise<number> {
  const server = createServer({ allowHalfOpen }, (socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  target = await selfSignedTlsServer(REPLY);
  servers.push(target.server);
});

afterAll(() => {
  for (const server of servers) server.close();
});

describe('a host that is not mapped', () => {
  it('is tunnelled byte for byte: the client sees the server’s own certificate, and trusts only it', async () => {
    const { proxy, metrics } = await fixture.start();
    const dispatcher = new ProxyAgent({
      uri: proxy.url,
      token: basic('ann', PROXY_TOKEN),
      requestTls: { ca: target.certPem },
    });
    const res = await fetch(`https://127.0.0.1:${target.port}/anything`, { dispatcher });
    expect(await res.text()).toBe(REPLY);
    await dispatcher.close();
    expect(metrics.count('tunnelled')).toBe(1);
    expect(metrics.count('intercepted')).toBe(0);
    await eventually(() => metrics.bytes > REPLY.length + 500); // a TLS handshake and the exchange
    expect(fixture.bridge.requests.some((r) => r.url === '/anything')).toBe(false);
  });

  it('hands the server’s certificate through untouched', async () => {
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${target.port}`, AUTH));
    expect(answer.status).toBe(200);
    const tls = tlsConnect({ socket: answer.socket, host: '127.0.0.1', ca: target.certPem });
    await once(tls, 'secureConnect');
    expect(tls.authorized).toBe(true);
    expect(tls.getPeerX509Certificate()!.fingerprint256).toBe(new X509Certificate(target.certPem).fingerprint256);
    tls.destroy();
  });

  it.skipIf(!HAS_CURL)('is tunnelled for curl -x too', async () => {
    const { proxy } = await fixture.start();
    const certFile = join(tempDir(), 'server.pem');
    writeFileSync(certFile, target.certPem);
    const { stdout } = await run(
      'curl',
      [
        '-sS',
        '-x',
        proxy.url,
        '--proxy-user',
        `u:${PROXY_TOKEN}`,
        '--cacert',
        certFile,
        `https://127.0.0.1:${target.port}/`,
      ],
      { env: { PATH: process.env.PATH } },
    );
    expect(stdout).toBe(REPLY);
  });

  it('counts exactly the bytes carried, both ways', async () => {
    const port = await tcpServer((socket) => socket.pipe(socket)); // echo
    const { proxy, metrics } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    const payload = Buffer.alloc(100_000, 7);
    let echoed = 0;
    answer.socket.on('data', (c: Buffer) => (echoed += c.length));
    answer.socket.resume();
    answer.socket.write(payload);
    await eventually(() => echoed === payload.length);
    expect(metrics.bytes).toBe(2 * payload.length);
    answer.socket.destroy();
  });

  it('passes a half-close on, and closes both sides when the other never finishes', async () => {
    let far: Socket | undefined;
    let farSawEnd = false;
    const port = await tcpServer((socket) => {
      far = socket;
      socket.on('end', () => (farSawEnd = true)); // and never ends its own side
      socket.resume();
    }, true);
    const { proxy } = await fixture.start({ limits: { idleTimeoutMs: 200 } });
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    answer.socket.resume();
    answer.socket.end();
    await once(answer.socket, 'close');
    expect(farSawEnd).toBe(true);
    // The proxy's side is gone: the far end's next write is answered with a reset.
    await eventually(() => {
      if (!far!.destroyed) far!.write('still here?');
      return far!.destroyed;
    });
  });

  it('closes the client side when the far end dies mid-way', async () => {
    const port = await tcpServer((socket) => socket.end('partial'));
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    let received = '';
    answer.socket.on('data', (c: Buffer) => (received += c));
    answer.socket.resume();
    await once(answer.socket, 'end');
    expect(received).toBe('partial');
  });

  it('gets 502 when the far end cannot be reached, and the proxy goes on', async () => {
    const port = await tcpServer(() => {});
    servers.at(-1)!.close(); // nothing listens there any more
    const { proxy, metrics } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body).error.message).toBe(`cannot reach 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(metrics.count('upstream_failed')).toBe(1);
    const after = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${target.port}`, AUTH));
    expect(after.status).toBe(200);
    after.socket.destroy();
  });

  it('gets 502 for a name that does not resolve', async () => {
    const { proxy } = await fixture.start({ limits: { connectTimeoutMs: 2_000 } });
    const answer = await askProxy(proxy.address.port, connectRequest('no-such-host.invalid:443', AUTH));
    expect([502, 504]).toContain(answer.status);
    expect(JSON.parse(answer.body).error.message).toMatch(/no-such-host\.invalid/);
  });

  it('is refused with 403 under proxy.tunnel: deny, while mapped hosts are still served', async () => {
    const { proxy, metrics } = await fixture.start({ tunnel: 'deny' });
    const refused = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${target.port}`, AUTH));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.message).toMatch(/proxy\.tunnel: deny/);
    const mapped = await askProxy(proxy.address.port, connectRequest('api.openai.com:443', AUTH));
    expect(mapped.status).toBe(200);
    mapped.socket.destroy();
    expect(metrics.count('denied')).toBe(1);
  });

  it('to this machine, loopback, private or link-local addresses is refused unless allowed', async () => {
    const { proxy } = await fixture.start({ tunnelPrivate: false });
    // This machine's other services stay out of reach on its public addresses too.
    const ownPublic = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((entry) => entry.family === 'IPv4' && !isPrivateAddress(entry.address))
      .map((entry) => `${entry.address}:${target.port}`);
    for (const to of [
      `127.0.0.1:${target.port}`,
      `localhost:${target.port}`,
      '169.254.169.254:80',
      '[::1]:443',
      ...ownPublic,
    ]) {
      const answer = await askProxy(proxy.address.port, connectRequest(to, AUTH));
      expect(answer.status, to).toBe(403);
      expect(JSON.parse(answer.body).error.message).toMatch(/loopback, private or link-local/);
    }
  });
});

describe('CONNECTs the proxy never passes on', () => {
  it('a mapped host on another port: 403, neither served nor tunnelled past the bridge', async () => {
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:8443', AUTH));
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body).error.message).toBe(
      'api.anthropic.com is served by the bridge only on its mapped port',
    );
  });

  it('to the proxy itself or the bridge’s own port: 508, a loop', async () => {
    const bridgePort = await tcpServer(() => {});
    const { proxy, metrics } = await fixture.start({ bridgeAddresses: [`0.0.0.0:${bridgePort}`] });
    for (const to of [
      `127.0.0.1:${proxy.address.port}`,
      `localhost:${proxy.address.port}`,
      `127.0.0.1:${bridgePort}`,
      `127.0.0.2:${bridgePort}`,
    ]) {
      const answer = await askProxy(proxy.address.port, connectRequest(to, AUTH));
      expect(answer.status, to).toBe(508);
    }
    expect(metrics.count('loop')).toBe(4);
  });

  it('anything once the proxy is closing; open tunnels get the grace to finish', async () => {
    const port = await tcpServer((socket) => socket.pipe(socket));
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    answer.socket.resume();
    let closed = false;
    const closing = proxy.close(60_000).then(() => (closed = true));
    await expect(askProxy(proxy.address.port, connectRequest('api.openai.com:443', AUTH))).rejects.toThrow(
      /ECONNREFUSED/,
    );
    answer.socket.write('still carried');
    const [echo] = (await once(answer.socket, 'data')) as [Buffer];
    expect(echo.toString()).toBe('still carried');
    expect(closed).toBe(false);
    answer.socket.end();
    await closing;
  });

  it('anything once the proxy is closed: its tunnels end with it', async () => {
    const port = await tcpServer((socket) => socket.resume());
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(`127.0.0.1:${port}`, AUTH));
    answer.socket.resume();
    const closed = once(answer.socket, 'close');
    await proxy.close();
    await closed;
    await expect(askProxy(proxy.address.port, connectRequest('api.openai.com:443', AUTH))).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});
