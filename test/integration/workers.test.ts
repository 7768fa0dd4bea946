import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, isAlive, NODE, ROOT, runCli, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

const tempDir = tempDirs('aibridge-workers-');

interface Ready {
  worker?: { id: number; pid: number };
}

/** GET on a connection of its own, so the primary hands it to the next worker in turn. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const readyz = async (url: string) => JSON.parse((await get(`${url}/readyz`)).body) as Ready;

/** The workers answering now, by id (asks until every id 1…count has answered, or gives up). */
async function workersSeen(url: string, count: number): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  await waitUntil(async () => {
    const { worker } = await readyz(url);
    if (worker) seen.set(worker.id, worker.pid);
    return seen.size === count;
  }, 20_000);
  return seen;
}

describe('aibridge server --workers 2', () => {
  let upstream: ReplayUpstream;
  let dir: string;
  let configFile: string;
  let child: ChildProcess;
  let output = '';
  let url: string;
  let token: string;
  let exited: Promise<number | null>;

  const writeConfig = (extra: string) =>
    writeFileSync(
      configFile,
      [
        'listen: 127.0.0.1:0',
        `data_dir: ${join(dir, 'data')}`,
        'retention: 0',
        'providers:',
        `  - { name: openai, type: openai, base_url: "${upstream.url}/v1", api_key: sk-upstream }`,
        extra,
      ].join('\n'),
    );

  beforeAll(async () => {
    upstream = await ReplayUpstream.start();
    upstream.keepRequests = false;
    upstream.setDefault('openai-chat/text.json');
    dir = tempDir();
    configFile = join(dir, 'aibridge.yaml');
    writeConfig('');
    child = spawn(NODE, [CLI, 'server', '--config', configFile, '--workers', '2'], {
      cwd: ROOT,
      stdio: 'pipe',
      env: { ...process.env, AIBRIDGE_LOG_LEVEL: 'info' },
    });
    exited = new Promise((r) => child.once('exit', r));
    child.stdout?.on('data', (c) => (output += c));
    child.stderr?.on('data', (c) => (output += c));
    const seen = await waitForOutput(child, /OPENAI_API_KEY=\S+\n/);
    url = /OPENAI_BASE_URL=(http:\/\/\S+)\/openai\/v1/.exec(seen)?.[1] as string;
    token = /OPENAI_API_KEY=(\S+)/.exec(seen)?.[1] as string;
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await upstream.close();
  });

  it('prints the first owner’s token once, and both workers serve the one port', async () => {
    expect(output.match(/created the owner "admin"/g)).toHaveLength(1);
    const pids = await workersSeen(url, 2);
    expect(new Set(pids.values()).size).toBe(2);
    expect([...pids.values()]).not.toContain(child.pid);
    // Each journals on its own.
    expect(readdirSync(join(dir, 'data', 'journal')).sort()).toEqual(['worker-1', 'worker-2']);
  });

  it('records every request, and /metrics adds up all workers', async () => {
    const sends = Array.from({ length: 8 }, () =>
      fetch(`${url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(async (r) => ({ status: r.status, body: await r.json() })),
    );
    for (const { status, body } of await Promise.all(sends)) {
      expect(status).toBe(200);
      expect(body.choices[0].message.content).toBe('Hello! How can I help you today?');
    }
    await waitUntil(async () => {
      const text = (await get(`${url}/metrics`)).body;
      const counts = [...text.matchAll(/^aibridge_interceptions_total\{[^}]*status="completed"[^}]*\} (\d+)$/gm)];
      return counts.reduce((n, m) => n + Number(m[1]), 0) === 8;
    });
    // Both workers write the one embedded store: the audit API of either sees all eight.
    await waitUntil(async () => {
      const audit = await fetch(`${url}/api/v2/aibridge/interceptions?limit=100`, {
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
      });
      return ((await audit.json()) as { count: number }).count === 8;
    });
  });

  it('passes SIGHUP on: every worker reloads its configuration', async () => {
    writeConfig('tool_loop: { max_iterations: 3 }');
    const before = output.length;
    child.kill('SIGHUP');
    await waitUntil(() => {
      const lines = output
        .slice(before)
        .split('\n')
        .filter((l) => l.includes('"configuration reloaded"'));
      return lines.some((l) => l.includes('"worker":1')) && lines.some((l) => l.includes('"worker":2'));
    });
  });

  it('restarts a worker that is killed, in its place', async () => {
    const pids = await workersSeen(url, 2);
    const victim = pids.get(2) as number;
    process.kill(victim, 'SIGKILL');
    await waitUntil(() => !isAlive(victim));
    await waitUntil(async () => {
      const again = await workersSeen(url, 2);
      return again.get(2) !== victim && isAlive(again.get(2) as number);
    }, 30_000);
    expect(output).toMatch(/"worker":2[^\n]*"worker died"|"worker died"[^\n]*"worker":2/);
  });

  it("both workers extend the file's one chain, across a worker killed and restarted: verify finds it whole", async () => {
    const sends = Array.from({ length: 12 }, () =>
      fetch(`${url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'again' }] }),
      }).then((r) => r.status),
    );
    expect(new Set(await Promise.all(sends))).toEqual(new Set([200]));
    const verify = async () =>
      (await fetch(`${url}/api/v2/aibridge/audit/verify`, {
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
      }).then((r) => r.json())) as { ok: boolean; checked: number; chains: Array<{ head: { seq: number } }> };
    // 20 interceptions, each written with its prompt and token usage.
    await waitUntil(async () => (await verify()).checked === 60);
    const result = await verify();
    expect(result.ok).toBe(true);
    expect(result.chains.map((c) => c.head.seq)).toEqual([60]);
  });

  it('SIGTERM stops every worker and the primary exits 0', async () => {
    const pids = [...(await workersSeen(url, 2)).values()];
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    const verified = await runCli(['audit', 'verify', '--config', configFile]);
    expect(verified.stderr).toContain('ok: 60 steps in 1 chain(s) verified');
    expect(verified.code).toBe(0);
  });
});

describe('--workers', () => {
  it('refuses what is not a count', async () => {
    const result = await runCli(['server', '--workers', 'many'], {}, 30_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a count of 1 or more, or auto');
  });

  it('a worker that cannot start fails the start: non-zero, with its reason', async () => {
    const dir = tempDir();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(
      file,
      [
        'listen: 127.0.0.1:0',
        `data_dir: ${join(dir, 'data')}`,
        'mcp_servers:',
        '  - { name: mine, url: "http://127.0.0.1:9/mcp", per_user_credentials: true }',
      ].join('\n'),
    );
    const result = await runCli(
      ['server', '--config', file, '--workers', '2'],
      { AIBRIDGE_CREDENTIALS_KEY: '' },
      60_000,
    );
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stderr).toMatch(/aibridge: .*credentials/i);
  });
});
