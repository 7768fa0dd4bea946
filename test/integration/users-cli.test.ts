import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildServer, startChildServer } from '../helpers/child-server.ts';
import { runCli, waitUntil } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';
import { ReplayUpstream } from '../helpers/upstream.ts';

/**
 * `aibridge users …` and `aibridge tokens …` (README, "Users and tokens") through the real CLI, on the embedded
 * store of a server running on the same data_dir, as on one machine.
 */

const tempDir = tempDirs('aibridge-users-cli-');
// Every command is a Node process of its own; on a busy machine a few of them take a while.
// Commands whose outcomes do not depend on each other (refusals, mostly) run side by side.
const SLOW = { timeout: 60_000 };
// Nothing from the environment the tests run in may point the CLI at another config or store.
const CLEAN = { AIBRIDGE_CONFIG: undefined, AIBRIDGE_MONGODB_URI: undefined };

let upstream: ReplayUpstream;
let server: ChildServer;

beforeAll(async () => {
  upstream = await ReplayUpstream.start();
  upstream.setDefault((request) =>
    request.path.endsWith('/messages') ? 'anthropic-messages/text.json' : 'anthropic-passthrough/models.json',
  );
  server = await startChildServer(tempDir(), {
    providers: [{ name: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream-key' }],
    pricing: [{ model: 'claude-test-*', input: 3, output: 15 }],
  });
});
afterAll(async () => {
  await server?.stop();
  await upstream?.close();
});

const cli = (...args: string[]) => runCli([...args, '--config', server.configFile], CLEAN);

/** Runs a command that must succeed; its stdout. */
async function ok(...args: string[]): Promise<string> {
  const result = await cli(...args);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

const lastLine = (stdout: string) => stdout.trim().split('\n').at(-1) as string;
const json = async (...args: string[]) => JSON.parse(await ok(...args, '-o', 'json'));
const user = async (name: string) =>
  ((await json('users', 'list', '--all')) as Array<Record<string, any>>).find((u) => u.username === name);

/** The status the running server answers a token with on a provider route. */
async function status(token: string): Promise<number> {
  const res = await fetch(`${server.url}/anthropic/v1/models`, {
    headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
  });
  await res.arrayBuffer();
  return res.status;
}

/** The status of a priced model call (budgeted, unlike the model list). */
async function priced(token: string): Promise<number> {
  const res = await fetch(`${server.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-test-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** A web console session of the running server, as a browser signs in with a token. */
async function signIn(token: string): Promise<string> {
  const res = await fetch(`${server.url}/api/v2/aibridge/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') as string).split(';')[0] as string;
}

const sessionStatus = async (cookie: string) =>
  (await fetch(`${server.url}/api/v2/aibridge/session`, { headers: { cookie } })).status;

describe('aibridge users', SLOW, () => {
  it('creates users, printing the token last; lists them as a table, JSON or CSV', async () => {
    const created = await cli('users', 'create', 'ann', '--name', 'Ann A.', '--role', 'auditor');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/^created auditor ann \(.+\); the token below is shown once:/);
    const token = lastLine(created.stdout);
    expect(token).toMatch(/^aib_[A-Za-z0-9_-]{43}$/);
    expect(await status(token)).toBe(200); // the running server takes it at once

    const table = (await ok('users', 'list')).split('\n');
    expect(table[0]?.split(/\s{2,}/)).toEqual([
      'USERNAME',
      'NAME',
      'ROLE',
      'STATUS',
      'BUDGET',
      'TEAMS',
      'CREATED_AT',
      'ID',
    ]);
    expect(table.find((l) => l.startsWith('ann '))).toMatch(/^ann\s+Ann A\.\s+auditor\s+active\s+-\s+-\s+\d{4}-/);

    const listed = await json('users', 'list');
    expect(listed.find((u: { username: string }) => u.username === 'ann')).toMatchObject({
      username: 'ann',
      name: 'Ann A.',
      role: 'auditor',
      disabled: false,
      deleted: false,
      budget: null,
    });
    expect(JSON.parse(await ok('users', 'list', '--format', 'json'))).toEqual(listed); // the old flag still works

    const csv = (await ok('users', 'list', '-o', 'csv')).split('\r\n');
    expect(csv[0]).toBe('username,name,role,status,budget,teams,created_at,id');
    expect(csv.find((l) => l.startsWith('ann,'))).toMatch(/^ann,Ann A\.,auditor,active,,,\d{4}-.+,[0-9a-f-]{36}$/);

    const id = listed.find((u: { username: string }) => u.username === 'ann').id as string;
    const [bad, twice, me, upper, idShaped, badRole, yaml] = await Promise.all([
      cli('users', 'create', 'no spaces'),
      cli('users', 'create', 'ann'),
      cli('users', 'create', 'me'),
      cli('users', 'create', 'ANN'),
      cli('users', 'create', id),
      cli('users', 'create', 'x', '--role', 'boss'),
      cli('users', 'list', '-o', 'yaml'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('username "no spaces" must be 1-64 letters');
    expect(twice.stderr).toContain('user "ann" already exists');
    expect(me.stderr).toContain('"me" is reserved: it names the caller in the API');
    expect(upper.code).toBe(1);
    expect(upper.stderr).toContain('user "ann" already exists (usernames are unique regardless of case)');
    expect(idShaped.code).toBe(1);
    expect(idShaped.stderr).toContain(`username "${id}" is shaped like a user id`);
    expect(badRole.code).toBe(2);
    expect(yaml.code).not.toBe(0);
  });

  it('changes roles, disables and enables, sets budgets', async () => {
    const token = lastLine(await ok('users', 'create', 'bob'));
    expect((await user('bob'))?.role).toBe('member');

    await ok('users', 'set-role', 'bob', 'auditor');
    expect((await user('bob'))?.role).toBe('auditor');
    const [badRole, nobody] = await Promise.all([
      cli('users', 'set-role', 'bob', 'boss'),
      cli('users', 'set-role', 'nobody', 'member'),
    ]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('role must be one of owner, auditor, member');
    expect(nobody.stderr).toContain('no user "nobody"');

    const disabled = await cli('users', 'disable', 'bob');
    expect(disabled.stderr).toContain('disabled bob; their tokens are refused within 5 s on every replica');
    expect((await ok('users', 'list')).split('\n').find((l) => l.startsWith('bob '))).toMatch(/\sdisabled\s/);
    await waitUntil(async () => (await status(token)) === 401, 5_000);
    await ok('users', 'enable', 'bob');
    await waitUntil(async () => (await status(token)) === 200, 5_000);

    await ok('users', 'set-budget', 'bob', '25', '--period', 'week');
    expect((await user('bob'))?.budget).toEqual({ usd: 25, period: 'week' });
    expect((await ok('users', 'list')).split('\n').find((l) => l.startsWith('bob '))).toContain('$25.00/week');
    await ok('users', 'set-budget', 'bob', 'none');
    expect((await user('bob'))?.budget).toBeNull();
    const amounts = ['-5', 'abc', '', 'Infinity'];
    const [year, unknown, ...refused] = await Promise.all([
      cli('users', 'set-budget', 'bob', '5', '--period', 'year'),
      cli('users', 'set-budget', 'nobody', '5'),
      ...amounts.map((bad) => cli('users', 'set-budget', 'bob', bad)),
    ]);
    expect(year?.code).toBe(2);
    refused.forEach((result, i) => {
      expect(result.code, amounts[i]).toBe(2);
      expect(result.stderr).toContain('USD must be a number of at least 0, or "none"');
    });
    expect(unknown?.code).toBe(1);
    expect(unknown?.stderr).toContain('no user "nobody"');
  });

  it('prints a budget under a cent with its digits, not as "$0.00"', async () => {
    await ok('users', 'create', 'tiny');
    expect((await cli('users', 'set-budget', 'tiny', '0.00001')).stderr).toBe('tiny: budget $0.00001/month\n');
    expect((await ok('users', 'list')).split('\n').find((l) => l.startsWith('tiny '))).toContain('$0.00001/month');
  });

  it('sets a $0 budget (every priced call refused with 429) and returns to the role default with "none"', async () => {
    const token = lastLine(await ok('users', 'create', 'cy'));
    expect(await priced(token)).toBe(200);
    const zero = await cli('users', 'set-budget', 'cy', '0', '--period', 'day');
    expect(zero.code, zero.stderr).toBe(0);
    expect(zero.stderr).toBe('cy: budget $0.00/day: no spend allowed\n');
    expect((await user('cy'))?.budget).toEqual({ usd: 0, period: 'day' });
    expect((await ok('users', 'list')).split('\n').find((l) => l.startsWith('cy '))).toContain('$0.00/day');
    await waitUntil(async () => (await priced(token)) === 429, 5_000);
    expect(await priced(token)).toBe(429);
    expect(await status(token)).toBe(200); // reads that cost nothing still pass

    const none = await cli('users', 'set-budget', 'cy', 'none');
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toBe("cy: own budget removed; the role's default applies\n");
    expect((await user('cy'))?.budget).toBeNull();
    await waitUntil(async () => (await priced(token)) === 200, 5_000);
  });

  it('refuses to demote, disable or delete the last enabled owner (exit 1)', async () => {
    const attempts = [
      ['set-role', 'admin', 'member'],
      ['disable', 'admin'],
      ['delete', 'admin'],
    ];
    const refusals = await Promise.all(attempts.map((args) => cli('users', ...args)));
    refusals.forEach((refused, i) => {
      expect(refused.code, attempts[i]?.join(' ')).toBe(1);
      expect(refused.stderr).toContain('refused: this would leave no enabled owner');
    });
    expect((await user('admin'))?.role).toBe('owner');
    // With a second owner, the first may step down.
    await ok('users', 'create', 'otto', '--role', 'owner');
    await ok('users', 'set-role', 'admin', 'auditor');
    await ok('users', 'set-role', 'admin', 'owner');
  });

  it('deletes users: tokens refused, name kept out of the list (but for --deleted) and reserved', async () => {
    const token = lastLine(await ok('users', 'create', 'dan'));
    expect(await status(token)).toBe(200);
    const deleted = await cli('users', 'delete', 'dan');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toContain('deleted dan; their records stay, their username stays reserved');
    await waitUntil(async () => (await status(token)) === 401, 5_000);

    expect((await json('users', 'list')).map((u: { username: string }) => u.username)).not.toContain('dan');
    expect(await user('dan')).toMatchObject({ deleted: true });
    const [listed, again, tokenFor, twice] = await Promise.all([
      ok('users', 'list', '--deleted'),
      cli('users', 'create', 'dan'),
      cli('tokens', 'create', 'dan'),
      cli('users', 'delete', 'dan'),
    ]);
    expect(listed).toMatch(/^dan\s.*\sdeleted\s/m);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/user "dan" was deleted on \d{4}-\d\d-\d\d; usernames of deleted users stay reserved/);
    expect(tokenFor.stderr).toContain('no user "dan"');
    expect(twice.code).toBe(1);
  });
});

describe('aibridge tokens', SLOW, () => {
  it('creates named tokens with an expiry; bad expiries exit 2', async () => {
    await ok('users', 'create', 'eve');
    const before = Date.now();
    const made = await cli('tokens', 'create', 'eve', '--name', 'laptop', '--expires', '30d');
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/^new token [0-9a-f-]{36} for eve, expires \d{4}-.+; shown once:/);
    const token = lastLine(made.stdout);
    expect(await status(token)).toBe(200);

    const laptop = (await json('tokens', 'list', 'eve')).find((t: { name: string }) => t.name === 'laptop');
    expect(Date.parse(laptop.expires_at)).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(Date.parse(laptop.expires_at)).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);

    const expiries = ['soon', '2001-01-01T00:00:00Z', '0s', '300000000d'];
    const refused = await Promise.all(expiries.map((expires) => cli('tokens', 'create', 'eve', '--expires', expires)));
    refused.forEach((bad, i) => {
      expect(bad.code, expiries[i]).toBe(2);
      expect(bad.stderr).toContain('--expires must be a duration like 30d or a future RFC 3339 time');
    });
  });

  it('lists tokens without secrets: id, user, name, created, last used, expires, status', async () => {
    const token = lastLine(await ok('tokens', 'create', 'eve', '--name', 'ci'));
    const table = await ok('tokens', 'list', 'eve');
    const lines = table.trim().split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual([
      'ID',
      'USERNAME',
      'KIND',
      'NAME',
      'CREATED_AT',
      'LAST_USED_AT',
      'EXPIRES_AT',
      'STATUS',
    ]);
    expect(lines.find((l) => /\sci\s/.test(l))).toMatch(/eve\s+api\s+ci\s+\d{4}-\S+\s+-\s+-\s+active$/);
    const listed = await json('tokens', 'list', 'eve');
    const csv = await ok('tokens', 'list', '-o', 'csv');
    expect(csv.split('\r\n')[0]).toBe('id,username,kind,name,created_at,last_used_at,expires_at,status');
    for (const output of [table, JSON.stringify(listed), csv]) {
      expect(output).not.toContain(token);
      expect(output).not.toMatch(/aib_|hash/);
    }
    expect(Object.keys(listed[0]).sort()).toEqual(
      ['created_at', 'expires_at', 'id', 'kind', 'last_used_at', 'name', 'revoked_at', 'status', 'username'].sort(),
    );
    // Without a username: everyone's.
    const all = (await json('tokens', 'list')).map((t: { username: string }) => t.username);
    expect(all).toEqual(expect.arrayContaining(['admin', 'ann', 'eve']));
  });

  it('revokes a token: the running server refuses it within 5 s; twice is an error', async () => {
    const token = lastLine(await ok('tokens', 'create', 'eve', '--name', 'doomed'));
    expect(await status(token)).toBe(200);
    const id = (await json('tokens', 'list', 'eve')).find((t: { name: string }) => t.name === 'doomed').id;
    const revoked = await cli('tokens', 'revoke', id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toBe(`revoked ${id}\n`);
    await waitUntil(async () => (await status(token)) === 401, 5_000);
    const listed = (await json('tokens', 'list', 'eve')).find((t: { id: string }) => t.id === id);
    expect(listed).toMatchObject({ status: 'revoked', revoked_at: expect.any(String) });

    const [twice, unknown] = await Promise.all([cli('tokens', 'revoke', id), cli('tokens', 'revoke', 'no-such-id')]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`token ${id} was already revoked`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no token "no-such-id"');
  });

  it('lists a live console session with the user’s tokens and ends it by id: the cookie gets 401', async () => {
    const token = lastLine(await ok('tokens', 'create', 'eve', '--name', 'browser'));
    const cookie = await signIn(token);
    const sessions = (await json('tokens', 'list', 'eve')).filter((t: { kind: string }) => t.kind === 'console');
    expect(sessions).toEqual([expect.objectContaining({ name: 'web console', status: 'active', revoked_at: null })]);
    const row = (await ok('tokens', 'list', 'eve')).split('\n').find((l) => l.startsWith(sessions[0].id));
    expect(row).toMatch(/\seve\s+console\s+web console\s/);
    expect(await sessionStatus(cookie)).toBe(200);

    const ended = await cli('tokens', 'revoke', sessions[0].id);
    expect(ended.code, ended.stderr).toBe(0);
    await waitUntil(async () => (await sessionStatus(cookie)) === 401, 5_000);
    // Ended, it is no longer listed; the token signed in with still works.
    expect((await json('tokens', 'list', 'eve')).map((t: { id: string }) => t.id)).not.toContain(sessions[0].id);
    expect(await status(token)).toBe(200);
  });

  it('shows when a token was last used once the server has written it (every 60 s, and when it stops)', async () => {
    const token = lastLine(await ok('tokens', 'create', 'eve', '--name', 'used'));
    expect(await status(token)).toBe(200);
    await server.stop(); // flushes the batch
    const used = (await json('tokens', 'list', 'eve')).find((t: { name: string }) => t.name === 'used');
    expect(used.last_used_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const row = (await ok('tokens', 'list', 'eve')).split('\n').find((l) => /\sused\s/.test(l));
    expect(row).toMatch(/\seve\s+api\s+used\s+\d{4}-\S+\s+\d{4}-\S+\s+-\s+active$/); // created, last used, never expires
  });
});
