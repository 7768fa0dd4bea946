import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiInterception } from '../../src/store/present.ts';
import type { InterceptionRecord, TokenUsageRecord } from '../../src/store/records.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';
import { freePort } from '../helpers/ports.ts';
import { runCli } from '../helpers/process.ts';
import { promptRecord, toolUsageRecord } from '../helpers/records.ts';

let store: TestStore;
let bridge: TestBridge;
let owner: { id: string; token: string };
let member: { id: string; token: string };
const docs: InterceptionRecord[] = [];

const T0 = Date.parse('2025-05-01T00:00:00Z');
const ROWS = 23;
const PROMPT = 'say "hi", then\nlist files';

async function seed() {
  for (let i = 0; i < ROWS; i++) {
    const anthropic = i % 3 === 0;
    docs.push({
      _id: randomUUID(),
      initiator_id: i < 20 ? member.id : owner.id,
      api_key_id: randomUUID(),
      provider: anthropic ? 'anthropic' : 'openai',
      provider_name: anthropic ? 'anthropic' : 'openai',
      model: anthropic ? 'claude-sonnet-4' : 'gpt-5',
      client: anthropic ? 'Claude Code' : 'Codex',
      user_agent: null,
      client_session_id: null,
      // Pairs share a start time, so paging has ties to get right.
      started_at: new Date(T0 + Math.floor(i / 2) * 3_600_000),
      ended_at: new Date(T0 + Math.floor(i / 2) * 3_600_000 + 1_000),
      status: 'completed',
      cost_usd: null,
      totals: null,
      metadata: {},
    });
  }
  await store.records.write(docs.map((doc) => ({ kind: 'interception' as const, doc })));
  const first = docs[0]!;
  const usage = (n: number): TokenUsageRecord => ({
    _id: randomUUID(),
    interception_id: first._id,
    provider_response_id: null,
    input_tokens: 100 * n,
    output_tokens: 10 * n,
    cache_read_input_tokens: n,
    cache_write_input_tokens: 2 * n,
    cost_usd: null,
    metadata: {},
    created_at: new Date(T0 + n),
  });
  await store.records.write([usage(1), usage(2)].map((doc) => ({ kind: 'token_usage' as const, doc })));
  await store.records.write([{ kind: 'user_prompt', doc: promptRecord(first, PROMPT, { created_at: new Date(T0) }) }]);
  await store.records.write([
    {
      kind: 'tool_usage',
      doc: toolUsageRecord(first, { tool_call_id: 'toolu_1', created_at: new Date(T0 + 3) }),
    },
  ]);
}

beforeAll(async () => {
  store = testEmbeddedStore();
  bridge = await startTestBridge(store);
  owner = await bridge.user('owen', 'owner');
  member = await bridge.user('mia', 'member');
  await seed();
});
afterAll(async () => {
  await bridge?.close();
  await store?.close();
});

const order = (rows: InterceptionRecord[]) =>
  [...rows]
    .sort((a, b) => b.started_at.getTime() - a.started_at.getTime() || (a._id < b._id ? 1 : -1))
    .map((r) => r._id);

/** Runs `aibridge interceptions list` as a child process, with the URL and token from the environment. */
const cli = (args: string[], token = owner.token, env: NodeJS.ProcessEnv = {}) =>
  runCli(['interceptions', 'list', ...args], { AIBRIDGE_URL: bridge.url, AIBRIDGE_SESSION_TOKEN: token, ...env });

/** Enough of RFC 4180 to read back what the CLI writes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      fields.push(field);
      rows.push(fields);
      fields = [];
      field = '';
      i++;
    } else field += ch;
  }
  return rows;
}

describe('aibridge interceptions list', () => {
  it('prints an indented JSON array of one page by default', async () => {
    const { code, stdout, stderr } = await cli(['--initiator', 'me', '--limit', '1000'], member.token);
    expect(code, stderr).toBe(0);
    const results = JSON.parse(stdout) as ApiInterception[];
    expect(stdout).toBe(`${JSON.stringify(results, null, 2)}\n`);
    expect(results.map((r) => r.id)).toEqual(order(docs.filter((d) => d.initiator_id === member.id)));
  });

  it('turns every flag into the filter, quoting values with spaces', async () => {
    const { code, stdout, stderr } = await cli([
      '--provider',
      'anthropic',
      '--provider-name',
      'anthropic',
      '--model',
      'claude-sonnet-4',
      '--client',
      'Claude Code',
      '--initiator',
      'mia',
      '--started-after',
      '2025-05-01T02:30:00Z',
      '--started-before',
      '2025-05-01T09:00:00+00:00',
    ]);
    expect(code, stderr).toBe(0);
    const expected = docs.filter(
      (d) =>
        d.provider === 'anthropic' &&
        d.initiator_id === member.id &&
        d.started_at.getTime() > T0 + 2.5 * 3_600_000 &&
        d.started_at.getTime() < T0 + 9 * 3_600_000,
    );
    expect(expected.length).toBeGreaterThan(1);
    expect((JSON.parse(stdout) as ApiInterception[]).map((r) => r.id)).toEqual(order(expected));
  });

  it('prints [] when nothing matches', async () => {
    const { code, stdout } = await cli(['--model', 'none']);
    expect(code).toBe(0);
    expect(stdout).toBe('[]\n');
  });

  it('follows after_id across pages with --all, streaming ndjson and reporting progress', async () => {
    const { code, stdout, stderr } = await cli(['--all', '--limit', '5', '--format', 'ndjson']);
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as ApiInterception).id)).toEqual(order(docs));
    expect(stderr).toMatch(/exported 23\/23 interceptions, 5 pages, [\d.]+ s, \d+\/s/);
  });

  it('writes the same JSON with --all as one big page would', async () => {
    const [paged, single] = await Promise.all([cli(['--all', '--limit', '4']), cli(['--limit', '1000'])]);
    expect(paged.code).toBe(0);
    expect(paged.stdout).toBe(single.stdout);
    expect(JSON.parse(paged.stdout)).toHaveLength(ROWS);
  });

  it('starts after --after-id', async () => {
    const ids = order(docs);
    const { stdout } = await cli(['--after-id', ids[9]!, '--all', '--limit', '6', '--format', 'ndjson']);
    expect(
      stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(ids.slice(10));
  });

  it('writes CSV: one row per interception, tokens summed, tools counted, fields quoted', async () => {
    const { code, stdout, stderr } = await cli(['--all', '--limit', '7', '--format', 'csv']);
    expect(code, stderr).toBe(0);
    const [header, ...rows] = parseCsv(stdout);
    expect(header).toEqual([
      'id',
      'started_at',
      'ended_at',
      'status',
      'initiator_id',
      'initiator_username',
      'provider',
      'provider_name',
      'model',
      'client',
      'client_session_id',
      'via',
      'total_input_tokens',
      'input_tokens',
      'cache_read_input_tokens',
      'cache_write_input_tokens',
      'output_tokens',
      'cost_usd',
      'tool_calls',
      'tools',
      'tool_results',
      'repo',
      'branch',
      'prompt',
    ]);
    // The console's export has exactly these columns.
    const consoleExport = await import(new URL('../../src/console/assets/lib/export.js', import.meta.url).href);
    expect(consoleExport.CSV_COLUMNS).toEqual(header);
    expect(rows.map((r) => r[0])).toEqual(order(docs));
    const first = docs[0]!;
    expect(rows.find((r) => r[0] === first._id)).toEqual([
      first._id,
      '2025-05-01T00:00:00.000Z',
      '2025-05-01T00:00:01.000Z',
      'completed',
      first.initiator_id,
      'mia',
      'anthropic',
      'anthropic',
      'claude-sonnet-4',
      'Claude Code',
      '',
      'direct',
      '309',
      '300',
      '3',
      '6',
      '30',
      '',
      '1',
      'Bash',
      '0',
      '',
      '',
      PROMPT,
    ]);
    expect(stdout).toContain('"say ""hi"", then\nlist files"');
  });

  it('rejects a bad time before any request (exit 2)', async () => {
    const port = await freePort(); // nothing listens: a request would fail differently
    const [{ code, stderr, stdout }, order2] = await Promise.all([
      cli(['--started-after', 'last tuesday'], owner.token, { AIBRIDGE_URL: `http://127.0.0.1:${port}` }),
      cli(['--started-after', '2025-05-02T00:00:00Z', '--started-before', '2025-05-01T00:00:00Z']),
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe(
      'aibridge: --started-after "last tuesday" is not an RFC 3339 time, e.g. 2025-01-31T13:45:00Z',
    );
    expect(order2.code).toBe(2);
    expect(order2.stderr).toMatch(/later than/);
  });

  it('rejects bad flags with exit 2', async () => {
    const env = { AIBRIDGE_URL: bridge.url, AIBRIDGE_SESSION_TOKEN: owner.token };
    const flags = [
      ['--limit', '0'],
      ['--limit', '5000'],
      ['--format', 'xml'],
      ['--url', 'ftp://x'],
      ['--provider', 'gemini'],
    ];
    const [none, status, groupBy, since, ...refused] = await Promise.all([
      cli([], ''),
      cli(['--status', 'done']),
      runCli(['usage', '--group-by', 'model,colour'], env),
      runCli(['usage', '--since', 'last week'], env),
      ...flags.map((args) => cli(args)),
    ]);
    expect(refused.map((result) => result.code)).toEqual(flags.map(() => 2));
    // Values the CLI knows are refused by it, naming what it takes, before any request.
    expect(status?.code).toBe(2);
    expect(status?.stderr).toMatch(/'done' is invalid\. Allowed choices are completed, failed, running/);
    expect(groupBy?.code).toBe(2);
    expect(groupBy?.stderr).toMatch(/unknown key colour; use initiator, model, provider, client, day/);
    expect(since?.code).toBe(2);
    expect(none?.code).toBe(2);
    expect(none?.stderr).toMatch(/AIBRIDGE_SESSION_TOKEN/);
  });

  it('turns a bad token into one line on stderr and exit 1, never echoing the token', async () => {
    const bad = 'aib_this-token-is-not-known';
    const { code, stdout, stderr } = await cli([], bad);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual(['aibridge: server answered 401: invalid or expired session token']);
    expect(stderr).not.toContain(bad);
  });

  it('reports server refusals and validation errors in one line', async () => {
    const [forbidden, unknown] = await Promise.all([
      cli(['--initiator', 'owen'], member.token),
      cli(['--after-id', randomUUID()]),
    ]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^aibridge: server answered 403: .*own/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^aibridge: server answered 400: invalid after_id \(after_id: no interception/);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('takes --url and --token flags over the environment, and says when the bridge is down', async () => {
    const port = await freePort();
    const [viaFlags, down] = await Promise.all([
      cli(['--url', bridge.url, '--token', owner.token, '--limit', '1'], 'wrong', {
        AIBRIDGE_URL: 'http://127.0.0.1:1',
      }),
      cli([], owner.token, { AIBRIDGE_URL: `http://127.0.0.1:${port}` }),
    ]);
    expect(viaFlags.code, viaFlags.stderr).toBe(0);
    expect(JSON.parse(viaFlags.stdout)).toHaveLength(1);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^aibridge: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });
});
