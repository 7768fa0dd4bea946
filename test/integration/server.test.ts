import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openMongoStore } from '../../src/store/mongo/store.ts';
import { startTestBridge } from '../helpers/bridge.ts';
import { testEmbeddedStore } from '../helpers/db.ts';
import { startMongoServer } from '../helpers/mongo-server.ts';
import { freePort } from '../helpers/ports.ts';
import { CLI, NODE, ROOT, runCli, waitForOutput, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-server-');

describe('health endpoints', () => {
  it('serves /healthz, and /readyz follows MongoDB down and back up, answering within a second', async () => {
    const dir = tempDir();
    const port = await freePort();
    let db = await startMongoServer(dir, () => {}, { port });
    const store = await openMongoStore(db.uri, 'health', 5_000);
    const bridge = await startTestBridge(store);
    try {
      expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${bridge.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', store: 'up' });

      await db.stop();
      const asked = Date.now();
      const down = await fetch(`${bridge.url}/readyz`);
      const waited = Date.now() - asked;
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ store: 'down' });
      expect(waited, 'readyz must not hang on a dead store').toBeLessThan(5_000);
      expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);

      db = await startMongoServer(dir, () => {}, { port });
      await waitUntil(async () => (await fetch(`${bridge.url}/readyz`)).status === 200, 20_000);
    } finally {
      await bridge.close();
      await store.close();
      await db.stop();
    }
  });

  it('answers unknown routes with a JSON 404 naming the method and path', async () => {
    const store = testEmbeddedStore();
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
    expect(result.stderr).toContain(
      'providers[0].name: must be lowercase letters and digits, in words joined by - (like openai-eu)',
    );
    expect(result.stderr).toContain('providers[0].base_url: must be an http:// or https:// URL');
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });

  it('bootstraps an owner on first start, shares its embedded store with admin commands, and stops cleanly', async () => {
    const dir = tempDir();
    const file = join(dir, 'aibridge.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\ndata_dir: ${join(dir, 'data')}\nretention: 0\n`);
    const server = spawn(NODE, [CLI, 'server', '--config', file], { cwd: ROOT, stdio: 'pipe' });
    try {
      const output = await waitForOutput(server, /No provider is configured yet.*\n/);
      const token = /shown only this once:\n\n {2}(\S+)/.exec(output)?.[1] as string;
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)\./.exec(output)?.[1] as string;
      expect(token).toMatch(/^aib_/);
      // No provider in this config: the banner says so instead of offering routes that do not exist.
      expect(output).not.toContain('BASE_URL=');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      // An admin command with the same data_dir opens the same store file while the server runs.
      const created = await runCli(['users', 'create', 'dana', '--role', 'auditor', '--config', file]);
      expect(created.code).toBe(0);
      expect(created.stdout.trim().split('\n').at(-1)).toMatch(/^aib_/);
      const listed = await runCli(['users', 'list', '-o', 'json', '--config', file]);
      expect(JSON.parse(listed.stdout).map((u: { username: string }) => u.username)).toEqual(['admin', 'dana']);
      expect(created.stdout + listed.stdout + listed.stderr).not.toContain(token);
      const dana = created.stdout.trim().split('\n').at(-1) as string;
      const whoami = await fetch(`${url}/api/v2/aibridge/users/me`, { headers: { authorization: `Bearer ${dana}` } });
      expect(await whoami.json()).toMatchObject({ username: 'dana', role: 'auditor' });

      // data_dir is private, and nothing in it listens on a port.
      expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'data', 'aibridge.db')).mode & 0o777).toBe(0o600);
      const exited = new Promise<number | null>((r) => server.once('exit', r));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('prints help for every command', async () => {
    const commands = [['--help'], ['server', '--help'], ['users', 'create', '--help'], ['tokens', 'create', '--help']];
    const results = await Promise.all(commands.map((args) => runCli(args)));
    results.forEach((result, i) => {
      expect(result.code, commands[i]?.join(' ')).toBe(0);
      expect(result.stdout).toContain('Usage: aibridge');
    });
  });
});
