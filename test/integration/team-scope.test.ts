/**
 * An auditor limited to a team (README "Teams") sees only its members' records (and their own),
 * everywhere records are read: the audit list and one record, the pickers, sessions, tools,
 * usage (by team too), users and spend, teams, and the CLI that reads the API. An unlimited
 * auditor sees everyone; `team:` filters for them; a member may not use it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordOp } from '../../src/store/records.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { loadOpenApi, type OpenApi } from '../helpers/openapi.ts';
import { runCli } from '../helpers/process.ts';
import { interceptionRecord, promptRecord, toolUsageRecord } from '../helpers/records.ts';

let h: Harness;
let openapi: OpenApi;
const people: Record<string, { id: string; token: string }> = {};
const records: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness('team-scope');
  for (const name of ['mia', 'max', 'zed']) people[name] = await h.bridge.user(name);
  for (const name of ['tina', 'aud']) people[name] = await h.bridge.user(name, 'auditor');
  const teams = h.bridge.ctx.teams;
  const red = await teams.create('red');
  const blue = await teams.create('Blue Team');
  await teams.add(red, people.mia!.id);
  await teams.add(red, people.max!.id);
  await teams.add(blue, people.zed!.id);
  await teams.add(blue, people.mia!.id); // mia is in both
  await h.store.identity.updateUser(people.tina!.id, { audit_teams: [red._id] });
  h.bridge.ctx.authenticator.forget();

  const ops: RecordOp[] = [];
  const started = Date.now() - 3_600_000;
  ['mia', 'max', 'zed'].forEach((name, i) => {
    const doc = interceptionRecord({
      initiator_id: people[name]!.id,
      model: `model-${name}`,
      client: 'Claude Code',
      client_session_id: `session-${name}`,
      started_at: new Date(started + i * 60_000),
      cost_usd: 1 + i,
      totals: {
        input_tokens: 10,
        output_tokens: 5,
        cache_read_input_tokens: 0,
        cache_write_input_tokens: 0,
        tool_calls: 1,
      },
    });
    records[name] = doc._id;
    ops.push(
      { kind: 'interception', doc },
      { kind: 'user_prompt', doc: promptRecord(doc, `prompt of ${name}`) },
      { kind: 'tool_usage', doc: toolUsageRecord(doc, { tool: `tool_of_${name}`, tool_call_id: randomUUID() }) },
    );
  });
  await h.store.records.write(ops);
  openapi = await loadOpenApi(h.bridge.url);
});
afterAll(() => h?.close());

/** A GET as `who`; every answer is checked against the OpenAPI document's schema for it. */
const get = async (who: string, path: string) => {
  const response = await fetch(`${h.bridge.url}/api/v2/aibridge${path}`, {
    headers: { authorization: `Bearer ${people[who]!.token}` },
  });
  const body = await response.json();
  const schema = openapi.responseSchema('GET', path, response.status);
  expect(schema, `GET ${path} ${response.status} is documented`).toBeTruthy();
  openapi.validateAgainst(schema as object, body, `GET ${path} ${response.status}`);
  return { status: response.status, body };
};
const q = (text: string) => `q=${encodeURIComponent(text)}`;
const initiators = (body: { results: Array<{ initiator: { username: string } }> }) =>
  body.results.map((r) => r.initiator.username).sort();

describe('an auditor limited to a team', () => {
  it('lists and opens only its members’ interceptions, and is refused anyone else by name or team', async () => {
    expect(initiators((await get('tina', '/interceptions')).body)).toEqual(['max', 'mia']);
    expect((await get('tina', '/interceptions')).body.count).toBe(2);
    expect((await get('tina', `/interceptions/${records.mia}`)).status).toBe(200);
    expect((await get('tina', `/interceptions/${records.zed}`)).status).toBe(404);
    expect((await get('tina', `/interceptions?${q('initiator:zed')}`)).status).toBe(403);
    // A name that exists nowhere answers the same: nothing tells it from one outside the teams.
    const nobody = await get('tina', `/interceptions?${q('initiator:nobody-here')}`);
    expect(nobody.status).toBe(403);
    expect(nobody.body).toEqual((await get('tina', `/interceptions?${q('initiator:zed')}`)).body);
    expect((await get('tina', `/usage?${q('initiator:nobody-here')}`)).status).toBe(403);
    expect(initiators((await get('tina', `/interceptions?${q('initiator:mia')}`)).body)).toEqual(['mia']);
    expect(initiators((await get('tina', `/interceptions?${q('team:red')}`)).body)).toEqual(['max', 'mia']);
    expect((await get('tina', `/interceptions?${q('team:"Blue Team"')}`)).status).toBe(403);
    expect((await get('tina', `/interceptions?${q('team:nosuch')}`)).status).toBe(403);
  });

  it('sees only its members in the pickers, sessions, tools and usage', async () => {
    expect((await get('tina', '/models')).body.results).toEqual(['model-max', 'model-mia']);
    const sessions = (await get('tina', '/sessions')).body.results.map(
      (s: { client_session_id: string }) => s.client_session_id,
    );
    expect(sessions.sort()).toEqual(['session-max', 'session-mia']);
    const tools = (await get('tina', '/tools')).body.results.map((t: { tool: string }) => t.tool);
    expect(tools.sort()).toEqual(['tool_of_max', 'tool_of_mia']);
    const usage = (await get('tina', '/usage?group_by=initiator')).body.groups;
    expect(usage.map((g: { key: { initiator: { username: string } } }) => g.key.initiator.username).sort()).toEqual([
      'max',
      'mia',
    ]);
    // By team: only the teams it audits (mia is also in Blue Team, which it does not see).
    const byTeam = (await get('tina', '/usage?group_by=team')).body.groups;
    expect(byTeam).toEqual([
      expect.objectContaining({ key: { team: { id: expect.any(String), name: 'red' } }, cost_usd: 3 }),
    ]);
  });

  it('sees only its members among users, their spend, and its own teams', async () => {
    const users = (await get('tina', '/users')).body.results.map((u: { username: string }) => u.username);
    expect(users.sort()).toEqual(['max', 'mia', 'tina']);
    expect((await get('tina', '/users/zed')).status).toBe(404);
    expect((await get('tina', '/users/zed/spend')).status).toBe(404);
    expect((await get('tina', '/users/mia/spend')).status).toBe(200);
    expect((await get('tina', '/teams')).body.results.map((t: { name: string }) => t.name)).toEqual(['red']);
    expect((await get('tina', '/teams/Blue%20Team')).status).toBe(404);
    expect((await get('tina', '/users/me')).body.audit_teams).toEqual(['red']);
  });

  it('gets the same from the CLI, which reads the API', async () => {
    const env = { AIBRIDGE_URL: h.bridge.url, AIBRIDGE_SESSION_TOKEN: people.tina!.token };
    const listed = await runCli(['interceptions', 'list', '--all', '-o', 'json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<{ initiator: { username: string } }>;
    expect(rows.map((r) => r.initiator.username).sort()).toEqual(['max', 'mia']);
    const zed = await runCli(['interceptions', 'list', '--initiator', 'zed'], env);
    expect(zed.code).toBe(1);
    expect(zed.stderr).toContain('your teams');
    const usage = await runCli(['usage', '--group-by', 'team', '-o', 'csv'], env);
    expect(usage.code, usage.stderr).toBe(0);
    expect(usage.stdout.split('\r\n')[1]).toMatch(/^red,2,/);
  });
});

describe('an auditor of every team, and a member', () => {
  it('sees everyone and filters by team; a member may not filter by team', async () => {
    expect(initiators((await get('aud', '/interceptions')).body)).toEqual(['max', 'mia', 'zed']);
    expect(initiators((await get('aud', `/interceptions?${q('team:"blue team"')}`)).body)).toEqual(['mia', 'zed']);
    const byTeam = (await get('aud', '/usage?group_by=team')).body.groups;
    const named = Object.fromEntries(
      byTeam.map((g: { key: { team: { name: string } | null }; cost_usd: number }) => [
        g.key.team?.name ?? 'none',
        g.cost_usd,
      ]),
    );
    expect(named).toEqual({ 'Blue Team': 4, red: 3 }); // mia's $1 counts in both of her teams
    expect((await get('mia', `/interceptions?${q('team:red')}`)).status).toBe(403);
    expect((await get('mia', '/teams')).body.results.map((t: { name: string }) => t.name)).toEqual([
      'Blue Team',
      'red',
    ]);
    expect((await get('zed', '/teams')).body.results.map((t: { name: string }) => t.name)).toEqual(['Blue Team']);
    const red = (await get('aud', '/teams/red')).body;
    expect(red.member_list.map((u: { username: string }) => u.username)).toEqual(['max', 'mia']);
    expect((await get('max', '/teams/red/spend')).body).toMatchObject({ budget: null, spent_usd: expect.any(Number) });
    expect((await get('zed', '/teams/red')).status).toBe(404);
    expect((await get('max', '/notifications')).body).toEqual({ count: 0, results: [] });
    expect((await get('aud', '/users/mia')).body.teams).toEqual(['Blue Team', 'red']);
  });
});
