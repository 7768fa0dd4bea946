import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  ANN,
  askProxy,
  basic,
  connectRequest,
  eventually,
  PROXY_TOKEN,
  useInterceptingProxy,
} from '../helpers/proxy.ts';
import { tempDirs } from '../helpers/temp.ts';

const fixture = useInterceptingProxy(tempDirs('aibridge-proxy-hostile-'));
const AUTH = `Bearer ${PROXY_TOKEN}`;

/** The proxy still does its job: a good CONNECT to a mapped host gets its 200. */
async function stillServes(port: number): Promise<void> {
  const answer = await askProxy(port, connectRequest('api.anthropic.com:443', AUTH));
  expect(answer.status).toBe(200);
  answer.socket.destroy();
}

const errorOf = (body: string) => (JSON.parse(body) as { error: { message: string } }).error.message;

describe('proxy authentication', () => {
  it('without Proxy-Authorization: 407 with Proxy-Authenticate, and the connection closed', async () => {
    const { proxy, metrics } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443'));
    expect(answer.status).toBe(407);
    expect(answer.head).toContain('\r\nProxy-Authenticate: Basic realm="aibridge"\r\n');
    expect(answer.head).toContain('\r\nConnection: close');
    expect(errorOf(answer.body)).toMatch(/bridge token in Proxy-Authorization/);
    expect(answer.socket.destroyed).toBe(true);
    expect(metrics.count('unauthenticated')).toBe(1);
  });

  it.each([
    ['a wrong token', basic('ann', 'abt_not-a-token')],
    ['a wrong Bearer token', 'Bearer abt_not-a-token'],
    ['the token as user name, no password', basic(PROXY_TOKEN, '')],
    ['Basic without a colon', `Basic ${Buffer.from(PROXY_TOKEN).toString('base64')}`],
    ['Basic that is not base64', 'Basic %%%'],
    ['another scheme', `Digest ${PROXY_TOKEN}`],
  ])('with %s: 407', async (_, authorization) => {
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', authorization));
    expect(answer.status).toBe(407);
    expect(answer.head).toContain('Proxy-Authenticate: Basic realm="aibridge"');
  });

  it('while tokens cannot be checked (the store is down): 503, and a warning without the token', async () => {
    const { proxy, metrics } = await fixture.start({
      authenticate: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:27017');
      },
    });
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', AUTH));
    expect(answer.status).toBe(503);
    expect(errorOf(answer.body)).toBe('the bridge cannot check tokens right now; try again shortly');
    expect(metrics.count('auth_unavailable')).toBe(1);
    expect(fixture.logs.lines.some((l) => l.includes('proxy: cannot check a token now'))).toBe(true);
  });

  it('survives a client that leaves while its token is being checked', async () => {
    let release: (principal: typeof ANN) => void = () => {};
    let asked = false;
    const { proxy } = await fixture.start({
      authenticate: (token) => {
        if (token !== PROXY_TOKEN) return Promise.resolve(null);
        asked = true;
        return new Promise((resolve) => (release = resolve));
      },
    });
    const socket = connect(proxy.address.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(connectRequest('api.anthropic.com:443', AUTH));
    await eventually(() => asked);
    socket.destroy();
    await once(socket, 'close');
    release(ANN); // the answer comes for a socket already gone
    const after = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', basic('x', 'wrong')));
    expect(after.status).toBe(407);
  });
});

describe('hostile input', () => {
  it('headers over the limit: 431, and the proxy goes on', async () => {
    const { proxy } = await fixture.start({ limits: { maxHeaderBytes: 4096 } });
    const answer = await askProxy(
      proxy.address.port,
      connectRequest('api.anthropic.com:443', AUTH, `X-Padding: ${'a'.repeat(8192)}\r\n`),
    );
    expect(answer.status).toBe(431);
    await stillServes(proxy.address.port);
  });

  it('headers that never finish: 408 once the headers timeout passes', async () => {
    const { proxy, metrics } = await fixture.start({ limits: { headersTimeoutMs: 300 } });
    const answer = await askProxy(proxy.address.port, 'CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api');
    expect(answer.status).toBe(408);
    expect(metrics.count('bad_request')).toBe(1);
    await stillServes(proxy.address.port);
  });

  it('one address cannot hold every slot without a token: past the limit of connections waiting to authenticate, 429', async () => {
    const { proxy, metrics } = await fixture.start({ limits: { maxUnauthenticatedPerSource: 3 } });
    const port = proxy.address.port;
    const slow = await Promise.all(
      [1, 2, 3].map(async () => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        await once(socket, 'connect');
        socket.write('CONNECT api.anthropic.com:443 HTTP/1.1\r\nX-Slow: '); // and never more
        return socket;
      }),
    );
    const turnedAway = await askProxy(port, connectRequest('api.anthropic.com:443', AUTH));
    expect(turnedAway.status).toBe(429);
    expect(metrics.count('too_many')).toBe(1);
    // Authenticated sessions leave the count: three of them, and a fourth connection is still heard.
    for (const socket of slow) socket.resetAndDestroy(); // a reset: the proxy would keep a half-closed one until its headers timeout
    const sessions = [];
    // The proxy hears of the closes a moment after the clients do: the first session may wait for it.
    for (let tries = 0; tries < 100 && sessions.length === 0; tries++) {
      const answer = await askProxy(port, connectRequest('api.anthropic.com:443', AUTH));
      if (answer.status === 200) sessions.push(answer);
    }
    for (let i = 0; i < 2; i++) sessions.push(await askProxy(port, connectRequest('api.anthropic.com:443', AUTH)));
    expect(sessions.map((a) => a.status)).toEqual([200, 200, 200]);
    await stillServes(port);
    for (const session of sessions) session.socket.destroy();
  });

  it.each([
    'api.anthropic.com',
    'api.anthropic.com:',
    'api.anthropic.com:0',
    'api.anthropic.com:65536',
    'api.anthropic.com:443x',
    ':443',
    '[::zz]:443',
    '::1:443',
    'a..b:443',
    '-bad-.example:443',
    'user@api.anthropic.com:443',
    'http://api.anthropic.com:443',
    '1.2.3:443',
    `${'a'.repeat(64)}.example:443`,
  ])('a CONNECT to %j: 400', async (target) => {
    const { proxy } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest(target, AUTH));
    expect(answer.status).toBe(400);
  });

  it('a request that is not HTTP at all: 400', async () => {
    const { proxy } = await fixture.start();
    const answer = await askProxy(
      proxy.address.port,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0, 0, 0, 0, 0, 13, 10, 13, 10]),
    );
    expect(answer.status).toBe(400);
    await stillServes(proxy.address.port);
  });

  it.each([
    [
      'an absolute-form GET (plain HTTP proxying)',
      'GET http://api.anthropic.com/v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n',
    ],
    ['a GET of the proxy itself', 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['a POST with a body', 'POST http://x.test/ HTTP/1.1\r\nHost: x.test\r\nContent-Length: 5\r\n\r\nhello'],
  ])('%s: 405, Allow: CONNECT, nothing forwarded', async (_, request) => {
    const { proxy, metrics } = await fixture.start();
    const before = fixture.bridge.requests.length;
    const answer = await askProxy(proxy.address.port, request);
    expect(answer.status).toBe(405);
    expect(answer.head.toLowerCase()).toContain('\r\nallow: connect');
    expect(errorOf(answer.body)).toMatch(/only CONNECT/);
    expect(fixture.bridge.requests.length).toBe(before);
    expect(metrics.count('not_connect')).toBe(1);
  });

  it('plain text where TLS should start: the session fails, counted, and the proxy goes on', async () => {
    const { proxy, metrics } = await fixture.start();
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', AUTH));
    answer.socket.resume();
    answer.socket.write('GET /v1/models HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n');
    await once(answer.socket, 'close');
    await eventually(() => metrics.count('tls_failed') === 1);
    expect(metrics.count('intercepted')).toBe(0);
    await stillServes(proxy.address.port);
  });

  it('a client that says nothing after the 200: closed when the handshake timeout passes', async () => {
    const { proxy, metrics } = await fixture.start({ limits: { handshakeTimeoutMs: 200 } });
    const answer = await askProxy(proxy.address.port, connectRequest('api.anthropic.com:443', AUTH));
    answer.socket.resume();
    await once(answer.socket, 'close');
    await eventually(() => metrics.count('tls_failed') === 1);
  });

  it('many CONNECTs at once, most of them refused: every one answered, the proxy still up', async () => {
    const { proxy } = await fixture.start();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        askProxy(
          proxy.address.port,
          i % 3 === 0
            ? connectRequest('api.anthropic.com:443')
            : i % 3 === 1
              ? connectRequest('bad target', AUTH)
              : connectRequest('api.openai.com:443', AUTH),
        ),
      ),
    );
    expect(answers.filter((a) => a.status === 407)).toHaveLength(20);
    expect(answers.filter((a) => a.status === 400)).toHaveLength(20);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(20);
    for (const a of answers) a.socket.destroy();
    await stillServes(proxy.address.port);
  });
});
