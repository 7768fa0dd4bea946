import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startEmbedded } from '../../src/store/embedded.ts';
import { connectStore } from '../../src/store/mongo.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { CLI, isAlive, NODE, ROOT, runCli, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-server-');

describe('health endpoints', () => {
  it('serves /healthz, and /readyz follows the database down and back up', async () => {
    const dir = tempDir();
    const port = await freePort();
    let db = await startEmbedded(dir, () => {}, { port });
    const store = await connectStore(db.uri, 'health', 5_000);
    const bridge = await startTestBridge(store);
    try {
      expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${bridge.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', mongodb: 'up' });

      await db.stop();
      const down = await fetch(`${bridge.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ mongodb: 'down' });
      expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);

      db = await startEmbedded(dir, () => {}, { port });
      await waitUntil(async () => (await fetch(`${bridge.url}/readyz`)).status === 200, 20_000);
    } finally {
      await bridge.close();
      await store.close();
      await db.stop();
    }
  });

  it('answers unknown routes with a JSON 404 naming the method and path', async () => {
    const store = await connectStore((await import('../helpers/db.ts')).mongoUri(), 'health404');
    const bridge = await startTestBridge(store);
    try {
      const res = await fetch(`${bridge.url}/nowhere/else?x=1`, { method: 'DELETE' });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ message: 'no route for DELETE /nowhere/else' });
    } finally {
      await bridge.close();
      await store.close();
    }
  });
});

describe('aibridge server (the CLI)', () => {
  it('exits 2 listing every problem of an invalid config', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'providers:\n  - name: Open_AI\n    type: openai\n    base_url: nope\n');
    const result = await runCli(['server', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers[0].name: must match ^[a-z0-9]+(-[a-z0-9]+)*$');
    expect(result.stderr).toContain('providers[0].base_url: must be a URL');
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });

  it('bootstraps an owner on first start, shares its embedded database, and stops cleanly', async () => {
    const dir = tempDir();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\ndata_dir: ${join(dir, 'data')}\nretention: 0\n`);
    const server = spawn(NODE, [CLI, 'server', '--config', file], { cwd: ROOT, stdio: 'pipe' });
    try {
      const output = await waitForOutput(server, /OPENAI_API_KEY=\S+/);
      const token = /ANTHROPIC_AUTH_TOKEN=(\S+)/.exec(output)?.[1] as string;
      const url = /ANTHROPIC_BASE_URL=(http:\/\/127\.0\.0\.1:\d+)\/anthropic/.exec(output)?.[1] as string;
      expect(token).toMatch(/^aib_/);
      expect(output).toContain(`OPENAI_BASE_URL=${url}/openai/v1`);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      // An admin command with the same data_dir uses the running database.
      const created = await runCli(['users', 'create', 'dana', '--role', 'auditor', '--config', file]);
      expect(created.code).toBe(0);
      expect(created.stdout.trim().split('\n').at(-1)).toMatch(/^aib_/);
      const listed = await runCli(['users', 'list', '--config', file]);
      expect(JSON.parse(listed.stdout).map((u: { username: string }) => u.username)).toEqual(['admin', 'dana']);
      expect(created.stdout + listed.stdout + listed.stderr).not.toContain(token);

      const state = JSON.parse(
        (await import('node:fs')).readFileSync(join(dir, 'data', 'embedded-db.json'), 'utf8'),
      ) as { pid: number };
      const exited = new Promise<number | null>((r) => server.once('exit', r));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      await waitUntil(() => !isAlive(state.pid));
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('prints help for every command', async () => {
    for (const args of [
      ['--help'],
      ['server', '--help'],
      ['users', 'create', '--help'],
      ['tokens', 'create', '--help'],
    ]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toContain('Usage: aibridge');
    }
  });
});
