import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/ports.ts';
import { CLI, NODE, ROOT, runCli, waitForOutput } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-hostile-');

/** Writes a config and runs `aibridge server` with it to its exit (or the timeout). */
async function serverExit(config: Record<string, unknown> | string, env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir();
  const file = join(dir, 'aibridge.yaml');
  const base = { data_dir: join(dir, 'data'), retention: 0 };
  writeFileSync(
    file,
    typeof config === 'string'
      ? `${config}\n${Object.entries(base)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n')}\n`
      : JSON.stringify({ ...base, ...config }),
  );
  return runCli(['server', '--config', file], env, 30_000);
}

describe('start-up refuses what would loop or leak', () => {
  it.each([
    ['127.0.0.1', 'localhost'],
    ['127.0.0.1', '[::1]'],
    ['0.0.0.0', '127.0.0.1'],
    ['localhost', '0.0.0.0'],
  ])('listen %s, a provider base_url on %s and the same port → exit 2 with a clear error', async (listenHost, host) => {
    const port = await freePort();
    const result = await serverExit({
      listen: `${listenHost}:${port}`,
      providers: [{ name: 'openai', type: 'openai', base_url: `http://${host}:${port}/openai/v1`, api_key: 'sk-x' }],
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers[0].base_url: points at the bridge itself');
  });

  it('a bridge token as a provider api_key → exit 2, and the token is not printed', async () => {
    const token = 'aib_0123456789abcdefghijklmnopqrstuv';
    const result = await serverExit(
      [
        'listen: 127.0.0.1:0',
        'providers:',
        '  - { name: openai, type: openai, base_url: "https://api.openai.com/v1", api_key: "$' +
          '{AIBRIDGE_OPENAI_API_KEY}" }',
      ].join('\n'),
      { AIBRIDGE_OPENAI_API_KEY: token },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers[0].api_key: is an AI Bridge token');
    expect(result.stdout + result.stderr).not.toContain(token);
  });
});

describe('EADDRINUSE', () => {
  it('a second server on a taken port exits non-zero with one clear line; the first keeps serving', async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(file, `listen: 127.0.0.1:${port}\ndata_dir: ${join(dir, 'data')}\nretention: 0\n`);
    const first = spawn(NODE, [CLI, 'server', '--config', file], { cwd: ROOT, stdio: 'pipe' });
    try {
      await waitForOutput(first, /aibridge listening/);
      const second = await runCli(['server', '--config', file], {}, 30_000);
      expect(second.code).not.toBe(0);
      expect(second.code).not.toBeNull(); // it exited by itself, it was not killed by the timeout
      expect(second.stderr.trim().split('\n').at(-1)).toBe(
        `aibridge: cannot listen on 127.0.0.1:${port}: address already in use`,
      );
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      const exited = new Promise((r) => first.once('exit', r));
      first.kill('SIGTERM');
      await exited;
    }
  });
});

/** Sends `size` bytes without credentials; stops sending once answered, as curl does. */
function unauthenticatedUpload(url: string, body: Buffer): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: hostname,
      port,
      method: 'POST',
      path: '/anthropic/v1/messages',
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end(body);
  });
}

describe('bodies are not read before the token is checked', () => {
  it('60 unauthenticated 30 MB uploads get 401 each and the server does not grow by their size', async () => {
    const server = await startChildServer(tempDir(), {
      providers: [{ name: 'anthropic', type: 'anthropic', base_url: 'http://127.0.0.1:9', api_key: 'sk-ant' }],
    });
    try {
      const body = Buffer.alloc(30 * 1024 * 1024, 0x61);
      await unauthenticatedUpload(server.url, Buffer.from('{}')); // warm up
      const before = server.memory().rss;
      const statuses: number[] = [];
      for (let wave = 0; wave < 3; wave++) {
        statuses.push(
          ...(await Promise.all(Array.from({ length: 20 }, () => unauthenticatedUpload(server.url, body)))),
        );
      }
      expect(statuses).toEqual(Array(60).fill(401));
      const growth = server.memory().peak - before;
      expect(growth, `peak RSS grew ${growth >> 20} MB`).toBeLessThan((60 * body.length) / 4);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
