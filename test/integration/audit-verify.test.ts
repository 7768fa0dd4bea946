/**
 * Tamper evidence end to end (README "Tamper evidence", "Audit API"): the real bridge records
 * real SDK traffic; `GET …/audit/verify` and `aibridge audit verify` agree that it is whole,
 * and both name the record someone then edits straight in the database.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedStorePath } from '../../src/paths.ts';
import { mongoUri, STORE_KINDS } from '../helpers/db.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { runCli } from '../helpers/process.ts';
import { tempDirs } from '../helpers/temp.ts';

const tempDir = tempDirs('aibridge-verify-');

describe.each(STORE_KINDS)('verify on the %s store', (kind) => {
  let h: Harness;
  let owner: { token: string };
  let auditor: { token: string };
  let member: { token: string };
  let configFile: string;

  const verify = async (token: string, query = '') => {
    const res = await fetch(`${h.bridge.url}/api/v2/aibridge/audit/verify${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const cli = (...args: string[]) => runCli(['audit', 'verify', '--config', configFile, ...args]);

  beforeAll(async () => {
    h = await startHarness(`verify-${kind}`, {}, kind);
    owner = await h.bridge.user('olga', 'owner');
    auditor = await h.bridge.user('aldo', 'auditor');
    member = await h.bridge.user('mo', 'member');
    h.upstream.enqueue(
      'anthropic-messages/text.json',
      'anthropic-messages/text.sse',
      'anthropic-messages/client-tool.json',
    );
    await h.anthropic.messages.create({
      model: 'claude-test-1',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'one' }],
    });
    const stream = await h.anthropic.messages.create({
      model: 'claude-test-1',
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'two' }],
    });
    for await (const _ of stream) {
    }
    await h.anthropic.messages.create({
      model: 'claude-test-1',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'three' }],
      tools: [{ name: 'get_weather', description: 'w', input_schema: { type: 'object' } }],
    });
    for (let i = 0; i < 3; i++) await h.records();
    configFile = join(tempDir(), 'aibridge.json');
    const store =
      kind === 'mongodb'
        ? { mongodb: { uri: mongoUri(), database: h.store.db!.databaseName } }
        : { data_dir: h.store.dataDir };
    writeFileSync(configFile, JSON.stringify(store));
  });
  afterAll(() => h?.close());

  it('untouched: ok for owners and auditors, with every record checked and the chain head shown', async () => {
    const records = (await h.store.audit.list({}, { limit: 100 })).reduce(
      (n, d) => n + 1 + d.user_prompts.length + d.token_usages.length + d.tool_usages.length + d.model_thoughts.length,
      0,
    );
    for (const who of [owner, auditor]) {
      const { status, body } = await verify(who.token);
      expect(status).toBe(200);
      expect(body).toMatchObject({ ok: true, problem: null, next: null, checked: records });
      expect(body.chains).toEqual([
        {
          chain: expect.any(String),
          writer: { store: kind, host: expect.any(String), pid: process.pid },
          started_at: expect.any(String),
          head: { seq: records, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
          anchor_seq: 0,
        },
      ]);
    }
    const run = await cli();
    expect(run.stderr).toContain(`ok: ${records} steps in 1 chain(s) verified`);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^CHAIN\s+WRITER\s+STARTED_AT\s+ANCHOR\s+HEAD\s+HASH/);
  });

  it('pages: at most `limit` steps per request, `next` to go on', async () => {
    let query = '?limit=2';
    const checked: number[] = [];
    for (;;) {
      const { status, body } = await verify(owner.token, query);
      expect(status).toBe(200);
      expect(body.ok).toBe(true);
      checked.push(body.checked);
      if (!body.next) break;
      query = `?limit=2&after=${encodeURIComponent(body.next)}`;
    }
    expect(checked.slice(0, -1).every((n) => n === 2)).toBe(true);
    expect(checked.reduce((a, b) => a + b, 0)).toBe((await verify(owner.token)).body.checked);
  });

  it('members may not; bad parameters are named', async () => {
    const denied = await verify(member.token);
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain('owners and auditors');
    const bad = await verify(owner.token, '?limit=0&after=nope&since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.validations.map((v: { field: string }) => v.field).sort()).toEqual(['after', 'limit', 'since']);
  });

  it('a prompt edited in the database: the API and the CLI name the record, the CLI exits 1', async () => {
    const [latest] = await h.store.audit.list({}, { limit: 1 });
    const prompt = latest!.user_prompts[0]!;
    if (kind === 'mongodb') {
      await h.store
        .db!.collection<{ _id: string }>('user_prompts')
        .updateOne({ _id: prompt._id }, { $set: { prompt: 'innocent' } });
    } else {
      const db = new DatabaseSync(embeddedStorePath(h.store.dataDir!), { timeout: 10_000 });
      db.prepare(`UPDATE user_prompts SET doc = json_set(doc, '$.prompt', 'innocent') WHERE id = ?`).run(prompt._id);
      db.close();
    }
    const { body } = await verify(auditor.token);
    expect(body).toMatchObject({ ok: false, problem: { kind: 'changed', collection: 'user_prompts', id: prompt._id } });
    const run = await cli();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`changed: user_prompts ${prompt._id}`);
    expect(run.stderr).toContain('no longer matches its hash');
    const json = await cli('-o', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problem: { id: prompt._id } });
  });
});
