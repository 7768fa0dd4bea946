/**
 * `aibridge teams …` and `users … --teams` (README, "Teams") through the real CLI on an embedded
 * store, as an admin on the bridge's machine runs them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Teams } from '../../src/identity/teams.ts';
import { openEmbeddedStore } from '../../src/store/sqlite/store.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-teams-cli-');
const CLEAN = { AIBRIDGE_CONFIG: undefined, AIBRIDGE_MONGODB_URI: undefined };
let dir: string;
let config: string;

beforeAll(() => {
  dir = tempDir();
  config = join(dir, 'aibridge.json');
  writeFileSync(config, JSON.stringify({ data_dir: join(dir, 'data') }));
});
afterAll(() => {});

const cli = (...args: string[]) => runCli([...args, '--config', config], CLEAN);
async function ok(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await cli(...args);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result;
}

describe('aibridge teams', { timeout: 120_000 }, () => {
  it('creates teams, adds and removes members, sets budgets, lists and deletes them', async () => {
    for (const name of ['ann', 'bob']) await ok('users', 'create', name);
    expect((await ok('teams', 'create', 'Platform Team')).stderr).toMatch(/^created team Platform Team \(/);
    expect((await cli('teams', 'create', 'platform team')).stderr).toContain('team "platform team" already exists');
    expect((await cli('teams', 'create', 'say "hi"')).code).toBe(1);
    const dots = await cli('teams', 'create', '..'); // a URL path segment that names the folder above
    expect(dots.code).toBe(1);
    expect(dots.stderr).toContain('cannot be . or ..');
    expect((await ok('teams', 'add', 'platform team', 'ann', 'bob')).stderr).toBe(
      'ann added to Platform Team\nbob added to Platform Team\n',
    );
    expect((await ok('teams', 'remove', 'Platform Team', 'bob')).stderr).toBe('bob removed from Platform Team\n');
    // $0 allows the team no spend (as for a user); "none" would leave budgets.team to apply.
    expect((await ok('teams', 'set-budget', 'Platform Team', '0')).stderr).toMatch(
      /^Platform Team: budget \$0(\.00)?\/month\n$/,
    );
    expect((await ok('teams', 'set-budget', 'Platform Team', '250', '--period', 'week')).stderr).toBe(
      'Platform Team: budget $250.00/week\n',
    );
    expect((await cli('teams', 'set-budget', 'Platform Team', '-3')).code).toBe(2);
    const listed = JSON.parse((await ok('teams', 'list', '-o', 'json')).stdout);
    expect(listed).toEqual([
      expect.objectContaining({
        name: 'Platform Team',
        members: ['ann'],
        budget: { usd: 250, period: 'week' },
        sso: false,
      }),
    ]);
    const table = (await ok('teams', 'list')).stdout.split('\n');
    expect(table[0]?.split(/\s{2,}/)).toEqual(['NAME', 'MEMBERS', 'BUDGET', 'SSO', 'CREATED_AT', 'ID']);
    const users = (await ok('users', 'list')).stdout;
    expect(users.split('\n').find((l) => l.startsWith('ann '))).toContain('Platform Team');

    await ok('users', 'create', 'tina', '--role', 'auditor', '--teams', 'platform team');
    const tina = JSON.parse((await ok('users', 'list', '-o', 'json')).stdout).find(
      (u: { username: string }) => u.username === 'tina',
    );
    expect(tina.audit_teams).toEqual(['Platform Team']);
    expect((await cli('users', 'create', 'max', '--teams', 'platform team')).code).toBe(2); // only for auditors
    expect((await cli('users', 'set-role', 'tina', 'auditor', '--teams', 'nosuch')).stderr).toContain(
      'no team "nosuch"',
    );
    expect((await ok('users', 'set-role', 'tina', 'auditor', '--teams', 'all')).stderr).toBe(
      'tina is now auditor of every team\n',
    );

    expect((await ok('teams', 'delete', 'platform team')).stderr).toBe('deleted team Platform Team\n');
    expect((await ok('teams', 'list')).stdout).toBe('(none)\n');
  });

  it('refuses to change the members of a team single sign-on manages', async () => {
    const store = openEmbeddedStore(join(dir, 'data'), 'inline');
    try {
      await new Teams(store).create('sso-group', { sso: true });
    } finally {
      await store.close();
    }
    const refused = await cli('teams', 'add', 'sso-group', 'ann');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('managed by single sign-on');
    expect((await ok('teams', 'set-budget', 'sso-group', '10')).stderr).toBe('sso-group: budget $10.00/month\n');
  });
});
