import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { mongoUri } from '../helpers/db.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-cli-config-');

import { NO_CONFIG } from '../../src/cli/common.ts';

// Nothing from the environment the tests run in may point the CLI at a config or a store.
const CLEAN = { AIBRIDGE_CONFIG: undefined, AIBRIDGE_MONGODB_URI: undefined };
const database = `cliconf_${process.pid}`;

afterAll(async () => {
  const client = await MongoClient.connect(mongoUri());
  await client.db(database).dropDatabase();
  await client.close();
});

/** A config with an embedded store of its own, in a file of its own. */
function configFile(dir: string, dataDir = join(dir, 'data')): string {
  const file = join(dir, 'aibridge.yaml');
  writeFileSync(file, JSON.stringify({ data_dir: dataDir }));
  return file;
}

const usernames = (stdout: string) => (JSON.parse(stdout) as Array<{ username: string }>).map((u) => u.username);

describe('admin commands find the config as the server does', () => {
  it('stop with exit 2 when there is no config and no store to open, creating nothing', async () => {
    const cwd = tempDir();
    const commands = [
      ['users', 'list'],
      ['users', 'create', 'ann'],
      ['tokens', 'create', 'ann'],
      ['mcp-credentials', 'list'],
    ];
    const results = await Promise.all(commands.map((args) => runCli(args, CLEAN, 60_000, cwd)));
    results.forEach((result, i) => {
      expect(result.code, commands[i]?.join(' ')).toBe(2);
      expect(result.stderr.trim()).toBe(`aibridge: ${NO_CONFIG}`);
    });
    expect(existsSync(join(cwd, '.data'))).toBe(false);
  });

  it('take --config, then AIBRIDGE_CONFIG, then ./aibridge.yaml', async () => {
    const cwd = tempDir();
    const other = tempDir();
    const created = await runCli(['users', 'create', 'ann', '--config', configFile(other)], CLEAN, 60_000, cwd);
    expect(created.code, created.stderr).toBe(0);

    const viaEnv = await runCli(
      ['users', 'list', '-o', 'json'],
      { ...CLEAN, AIBRIDGE_CONFIG: configFile(other) },
      60_000,
      cwd,
    );
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(usernames(viaEnv.stdout)).toContain('ann');

    // --config wins over AIBRIDGE_CONFIG, which would fail here.
    const missing = join(other, 'missing.yaml');
    const flag = await runCli(
      ['users', 'list', '-o', 'json', '-c', configFile(other)],
      { ...CLEAN, AIBRIDGE_CONFIG: missing },
      60_000,
      cwd,
    );
    expect(flag.code, flag.stderr).toBe(0);
    const env = await runCli(['users', 'list', '-o', 'json'], { ...CLEAN, AIBRIDGE_CONFIG: missing }, 60_000, cwd);
    expect(env.code).toBe(2);
    expect(env.stderr).toContain(`invalid configuration ${missing}`);

    configFile(cwd, join(other, 'data'));
    const local = await runCli(['users', 'list', '-o', 'json'], CLEAN, 60_000, cwd);
    expect(local.code, local.stderr).toBe(0);
    expect(usernames(local.stdout)).toContain('ann');
  });

  it('use the defaults when a store is there to open: AIBRIDGE_MONGODB_URI', async () => {
    const cwd = tempDir();
    const result = await runCli(
      ['users', 'list', '-o', 'json'],
      { ...CLEAN, AIBRIDGE_MONGODB_URI: mongoUri() },
      60_000,
      cwd,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(result.stdout))).toBe(true);
  });

  it('use the defaults when a store is there to open: ./.data/aibridge.db', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, '.data'));
    writeFileSync(join(cwd, '.data', 'aibridge.db'), ''); // an empty file is an empty SQLite database
    const result = await runCli(['users', 'list', '-o', 'json'], CLEAN, 120_000, cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });
});
