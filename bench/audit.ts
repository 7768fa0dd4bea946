/**
 * Audit API benchmark: seeds interceptions with children into a fresh database, starts the
 * bridge, and times first pages, a deep page and a full CLI export. Prints a table and writes
 * bench/audit-results.json. MONGODB_URI picks a server (else the embedded one in a temp dir);
 * AUDIT_BENCH_ROWS sets the size (default 100 000; 10 000 on embedded FerretDB, see rowsFor),
 * AUDIT_BENCH_SAMPLES the requests per scenario (default 30).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Db, Document } from 'mongodb';
import { validateConfig } from '../src/config/load.ts';
import { createLogger } from '../src/observability/logger.ts';
import type {
  InterceptionRecord,
  ModelThoughtRecord,
  TokenUsageRecord,
  ToolUsageRecord,
  UserPromptRecord,
} from '../src/recorder/records.ts';
import { startServer } from '../src/server/start.ts';
import { type EmbeddedDatabase, startEmbedded } from '../src/store/embedded.ts';
import { COLLECTIONS, connectStore, ensureIndexes } from '../src/store/mongo.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** FerretDB 1.24 on SQLite scans whole collections for anything but `_id` equality: a smaller default there. */
const rowsFor = (kind: string) => Number(process.env.AUDIT_BENCH_ROWS ?? (kind === 'ferretdb' ? 10_000 : 100_000));
let ROWS = 0;
const BATCH = 2_000;
const SAMPLES = Number(process.env.AUDIT_BENCH_SAMPLES ?? 30);
const SCENARIO_BUDGET_MS = 60_000;
/** AUDIT_BENCH_EXPORT=0 skips the CLI export (for latency-only runs on a slow database). */
const EXPORT = process.env.AUDIT_BENCH_EXPORT !== '0';

const PROVIDERS = [
  { provider: 'anthropic', provider_name: 'anthropic', models: ['claude-sonnet-4-5', 'claude-haiku-4-5'] },
  { provider: 'openai', provider_name: 'openai', models: ['gpt-5', 'gpt-5-mini'] },
] as const;
const CLIENTS = ['Claude Code', 'Codex', 'Zed', 'Cursor', 'Unknown'];
const pick = <T>(list: readonly T[], i: number) => list[i % list.length] as T;

/** One interception and its children, shaped exactly as the recorder writes them. */
function generate(i: number, userIds: string[], newest: number) {
  const id = randomUUID();
  // Going back in time, pairs share a start so paging meets ties.
  const started = new Date(newest - Math.floor(i / 2) * 10_000);
  const p = pick(PROVIDERS, i);
  const interception: InterceptionRecord = {
    _id: id,
    initiator_id: pick(userIds, i * 7),
    api_key_id: randomUUID(),
    provider: p.provider,
    provider_name: p.provider_name,
    model: pick(p.models, i >> 1),
    client: pick(CLIENTS, i * 3),
    user_agent: 'bench/1.0',
    client_session_id: randomUUID(),
    started_at: started,
    ended_at: i % 500 === 0 ? null : new Date(started.getTime() + 4_000),
    status: i % 500 === 0 ? null : i % 50 === 0 ? 'failed' : 'completed',
    cost_usd: null,
    totals: null,
    metadata: {},
  };
  const at = (ms: number) => new Date(started.getTime() + ms);
  const prompts: UserPromptRecord[] = [
    {
      _id: randomUUID(),
      interception_id: id,
      provider_response_id: `resp_${i}`,
      prompt: `task ${i}: refactor the module and run the tests`,
      created_at: at(1),
    },
  ];
  const usages: TokenUsageRecord[] = Array.from({ length: 1 + (i % 2) }, (_, n) => ({
    _id: randomUUID(),
    interception_id: id,
    provider_response_id: `resp_${i}_${n}`,
    input_tokens: 1_000 + (i % 997),
    output_tokens: 200 + (i % 101),
    cache_read_input_tokens: 5_000,
    cache_write_input_tokens: n === 0 ? 300 : 0,
    cost_usd: null,
    metadata: {},
    created_at: at(1_000 * (n + 1)),
  }));
  const tools: ToolUsageRecord[] = Array.from({ length: i % 3 }, (_, n) => ({
    _id: randomUUID(),
    interception_id: id,
    provider_response_id: `resp_${i}_0`,
    tool_call_id: `call_${i}_${n}`,
    server_url: n === 0 ? 'http://127.0.0.1:9000/mcp' : null,
    tool: n === 0 ? 'search_issues' : 'Bash',
    input: '{"query":"is:open label:bug"}',
    injected: n === 0,
    invocation_error: null,
    output: null,
    duration_ms: null,
    metadata: {},
    created_at: at(1_500 + n),
  }));
  const thoughts: ModelThoughtRecord[] =
    i % 4 === 0
      ? [{ _id: randomUUID(), interception_id: id, content: 'thinking…', source: 'reasoning', created_at: at(900) }]
      : [];
  return { interception, prompts, usages, tools, thoughts };
}

async function seed(db: Db, userIds: string[]): Promise<number> {
  const started = Date.now();
  const newest = Date.now() - 60_000;
  for (let from = 0; from < ROWS; from += BATCH) {
    const rows = Array.from({ length: Math.min(BATCH, ROWS - from) }, (_, k) => generate(from + k, userIds, newest));
    const byCollection: Array<[string, Document[]]> = [
      [COLLECTIONS.interceptions, rows.map((r) => r.interception)],
      [COLLECTIONS.userPrompts, rows.flatMap((r) => r.prompts)],
      [COLLECTIONS.tokenUsages, rows.flatMap((r) => r.usages)],
      [COLLECTIONS.toolUsages, rows.flatMap((r) => r.tools)],
      [COLLECTIONS.modelThoughts, rows.flatMap((r) => r.thoughts)],
    ];
    await Promise.all(byCollection.map(([name, docs]) => db.collection(name).insertMany(docs, { ordered: false })));
    if ((from / BATCH) % 10 === 0) process.stderr.write(`seeded ${from + rows.length}/${ROWS}\r`);
  }
  process.stderr.write('\n');
  return Date.now() - started;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/** Times one GET repeatedly (after warm-up) within a budget; returns p50/p99 in ms. */
async function measure(url: string, token: string) {
  const once = async () => {
    const t = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as { results?: unknown[] };
    if (response.status !== 200 || !body.results?.length) throw new Error(`${url}: ${response.status}`);
    return performance.now() - t;
  };
  for (let i = 0; i < Math.min(3, SAMPLES); i++) await once();
  const samples: number[] = [];
  const deadline = Date.now() + SCENARIO_BUDGET_MS;
  while (samples.length < SAMPLES && (samples.length < 3 || Date.now() < deadline)) samples.push(await once());
  samples.sort((a, b) => a - b);
  return {
    samples: samples.length,
    p50_ms: +percentile(samples, 50).toFixed(1),
    p99_ms: +percentile(samples, 99).toFixed(1),
  };
}

/** Runs the real CLI export and counts its ndjson lines as they stream. */
function exportAll(url: string, token: string): Promise<{ rows: number; seconds: number; per_second: number }> {
  return new Promise((done, reject) => {
    const started = performance.now();
    const child = spawn(
      resolve(ROOT, 'node_modules/.bin/node'),
      [resolve(ROOT, 'src/cli.ts'), 'interceptions', 'list', '--all', '--format', 'ndjson'],
      { cwd: ROOT, env: { ...process.env, AIBRIDGE_URL: url, AIBRIDGE_SESSION_TOKEN: token } },
    );
    let rows = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) rows++;
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`export exited ${code}`));
      const seconds = (performance.now() - started) / 1000;
      done({ rows, seconds: +seconds.toFixed(2), per_second: Math.round(rows / seconds) });
    });
  });
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'aibridge-bench-audit-'));
  let embedded: EmbeddedDatabase | undefined;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    embedded = await startEmbedded(dir, (line) => process.stderr.write(`${line}\n`));
    uri = embedded.uri;
  }
  ROWS = rowsFor(embedded?.kind ?? 'mongodb');
  const database = 'aibridge_bench_audit';
  const store = await connectStore(uri, database);
  try {
    await store.db.dropDatabase();
    await ensureIndexes(store.db);
    const config = validateConfig(
      { listen: '127.0.0.1:0', data_dir: dir, mongodb: { uri, database }, retention: 0 },
      'bench',
      {},
    );
    const server = await startServer(config, {
      logger: createLogger({ level: 'warn' }),
      store: { ...store, close: async () => {} },
      drainMs: 1_000,
    });
    try {
      const userIds: string[] = [];
      for (let u = 0; u < 20; u++) userIds.push((await server.ctx.users.create(`dev${u}`))._id);
      const owner = await server.ctx.users.create('bench-owner', { role: 'owner' });
      const { token } = await server.ctx.users.createToken(owner._id);
      const seedMs = await seed(store.db, userIds);
      const api = `${server.url}/api/v2/aibridge/interceptions`;
      const deep = await store.db
        .collection<InterceptionRecord>(COLLECTIONS.interceptions)
        .find({}, { projection: { _id: 1 } })
        .sort({ started_at: -1, _id: -1 })
        .skip(Math.floor(ROWS * 0.9))
        .limit(1)
        .next();
      const q = encodeURIComponent('provider:anthropic client:"Claude Code"');
      const latency = {
        first_page_no_filter: await measure(`${api}?limit=100`, token),
        first_page_provider_client: await measure(`${api}?limit=100&q=${q}`, token),
        deep_page_after_id: await measure(`${api}?limit=100&after_id=${deep?._id}`, token),
      };
      const exported = EXPORT ? await exportAll(server.url, token) : null;
      if (exported && exported.rows !== ROWS) throw new Error(`export wrote ${exported.rows} rows, expected ${ROWS}`);
      const results = {
        date: new Date().toISOString(),
        database: embedded ? `embedded ${embedded.kind}` : 'MONGODB_URI',
        node: process.version,
        interceptions: ROWS,
        seed_seconds: +(seedMs / 1000).toFixed(1),
        latency,
        export_ndjson: exported,
        targets: { first_page_p50_ms: 50, export_per_second: 5_000 },
        note:
          embedded?.kind === 'ferretdb'
            ? 'FerretDB 1.24 (SQLite) pushes down only _id equality: every other query reads the whole collection, so times grow linearly with its size; MongoDB uses the indexes'
            : undefined,
      };
      console.log(
        `\naudit benchmark: ${ROWS} interceptions on ${results.database} (seeded in ${results.seed_seconds} s)`,
      );
      console.table(
        Object.fromEntries(
          Object.entries(latency).map(([k, v]) => [k, { p50_ms: v.p50_ms, p99_ms: v.p99_ms, n: v.samples }]),
        ),
      );
      if (results.note) console.log(`note: ${results.note}`);
      if (exported) {
        console.log(
          `export --all --format ndjson: ${exported.rows} rows in ${exported.seconds} s = ${exported.per_second}/s`,
        );
      }
      writeFileSync(resolve(ROOT, 'bench/audit-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    } finally {
      await server.close();
    }
  } finally {
    await store.db.dropDatabase().catch(() => {});
    await store.close();
    await embedded?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
