import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoUri } from '../helpers/db.ts';
import { NODE, ROOT, waitForOutput } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const run = promisify(execFile);
const tempDir = tempDirs('aibridge-package-');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: Array<{ path: string }>;
}

// npm run from here must act on the folder it is given, not on whatever npm run started vitest.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !key.startsWith('npm_') || /^npm_config_(cache|userconfig|registry)$/.test(key),
  ),
);
const npm = (args: string[], cwd: string) =>
  run('npm', args, { cwd, env: npmEnv, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 });

let packed: Packed;
let paths: string[];
let app: string; // an empty project the tarball is installed into
let bin: string;

beforeAll(async () => {
  const out = tempDir();
  const { stdout } = await npm(['pack', '--json', '--pack-destination', out], ROOT);
  packed = (JSON.parse(stdout.slice(stdout.indexOf('['))) as Packed[])[0] as Packed;
  paths = packed.files.map((f) => f.path);
  console.log(`packed ${packed.filename}: ${packed.size} bytes, ${packed.entryCount} files`);

  app = tempDir();
  writeFileSync(join(app, 'package.json'), '{ "private": true }\n');
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(out, packed.filename)], app);
  bin = join(app, 'node_modules', 'aibridge', 'bin', 'aibridge.js');
}, 300_000);

const installed = (args: string[]) => run(NODE, [bin, ...args], { cwd: app });

describe('npm pack', () => {
  it('carries the compiled CLI and what it reads, and nothing of the repository', () => {
    for (const path of ['package.json', 'README.md', 'aibridge.example.yaml', 'bin/aibridge.js', 'dist/src/cli.js']) {
      expect(paths).toContain(path);
    }
    // Imported as ../../schemas/config.schema.json from dist/src/config/, as from src/config/.
    expect(paths).toContain('dist/schemas/config.schema.json');
    const strays = paths.filter(
      (p) => /^(\.ci|\.tools|test|fixtures|bench|scripts|src|node_modules|\.data[^/]*)\//.test(p) || p.endsWith('.ts'),
    );
    expect(strays).toEqual([]);
  });

  it('compiles every module under src/, and copies its other files (workers and assets load by path)', () => {
    const sources = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(ROOT, join(e.parentPath, e.name)));
    expect(sources.length).toBeGreaterThan(10);
    for (const source of sources) expect(paths).toContain(`dist/${source.replace(/\.ts$/, '.js')}`);
  });
});

describe('the installed package, on Node 24', () => {
  it('prints its version and help', async () => {
    expect((await installed(['--version'])).stdout.trim()).toBe(version);
    const help = await installed(['--help']);
    expect(help.stdout).toContain('Usage: aibridge');
    for (const command of ['server', 'users', 'tokens', 'interceptions']) expect(help.stdout).toContain(command);
  });

  describe('aibridge server', () => {
    // The run's test database, so this checks the package and not how a store gets started.
    const database = `pkg_${process.pid}`;
    afterAll(async () => {
      const client = await MongoClient.connect(mongoUri());
      await client.db(database).dropDatabase();
      await client.close();
    });

    it('starts, serves /healthz and the web console, and stops cleanly on SIGTERM', async () => {
      const dir = tempDir();
      const file = join(dir, 'aibridge.json'); // JSON is YAML: no quoting of the URI to think about
      const config = { listen: '127.0.0.1:0', data_dir: join(dir, 'data'), mongodb: { uri: mongoUri(), database } };
      writeFileSync(file, JSON.stringify({ ...config, providers: [], retention: 0 }));
      const server = spawn(NODE, [bin, 'server', '--config', file], { cwd: app, stdio: 'pipe' });
      try {
        const output = await waitForOutput(server, /"msg":"aibridge listening"/);
        const line = output.split('\n').find((l) => l.includes('"msg":"aibridge listening"')) as string;
        const { url } = JSON.parse(line) as { url: string };
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
        // The console's files are read next to its compiled module.
        const page = await fetch(`${url}/`);
        expect(page.status).toBe(200);
        const main = /src="(\/console\/[^"]+\/main\.js)"/.exec(await page.text())?.[1];
        expect((await fetch(`${url}${main}`)).status).toBe(200);
        const exited = new Promise<number | null>((r) => server.once('exit', r));
        server.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        server.kill('SIGKILL');
      }
    });
  });
});
