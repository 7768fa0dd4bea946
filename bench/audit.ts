/**
 * Audit benchmark (npm run bench:audit): seeds interceptions — each with a prompt, token
 * usages and a tool usage — into a fresh store, starts the bridge on it and times, through the
 * API: the first page, filtered pages (initiator; provider + client; a 1 h range), a deep
 * `after_id` page; through the store (as the API calls it): counts and usage summaries; and a
 * full CLI export. Prints a table per store and size; writes bench/audit-results.json.
 *   AUDIT_BENCH_STORES=embedded,mongodb   (MongoDB: MONGODB_URI, else FerretDB 1.24 started here)
 *   AUDIT_BENCH_SIZES=100000,1000000      (embedded; MongoDB on FerretDB defaults to 10 000)
 *   AUDIT_BENCH_SAMPLES=30  AUDIT_BENCH_EXPORT_MAX=100000 (largest size exported)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { validateConfig } from '../src/config/load.ts';
import { Users } from '../src/identity/users.ts';
import { createLogger } from '../src/observability/logger.ts';
import { recordId } from '../src/recorder/record-id.ts';
import { startServer } from '../src/server/start.ts';
import type { RecordOp } from '../src/store/records.ts';
import type { InterceptionFilter, Store, UsageKey } from '../src/store/store.ts';
import { openBenchStore, percentile, writeResults } from './stores.ts';

const ROOT = resolve(import.meta.dirname, '..');
const KINDS = (process.env.AUDIT_BENCH_STORES ?? 'embedded,mongodb').split(',');
const SAMPLES = Number(process.env.AUDIT_BENCH_SAMPLES ?? 30);
const EXPORT_MAX = Number(process.env.AUDIT_BENCH_EXPORT_MAX ?? 100_000);
const sizesFor = (kind: string) =>
  (process.env.AUDIT_BENCH_SIZES ?? (kind === 'mongodb' && !process.env.MONGODB_URI ? '10000' : '100000,1000000'))
    .split(',')
    .map(Number);
const BATCH = 2_000;
const SPACING_MS = 5_000; // one interception every 5 s: 1 000 000 span about two months
const USERS = 20;

const PROVIDERS = [
  { provider: 'anthropic', provider_name: 'anthropic', models: ['claude-sonnet-4-5', 'claude-haiku-4-5'] },
  { provider: 'openai', provider_name: 'openai', models: ['gpt-5', 'gpt-5-mini'] },
] as const;
const CLIENTS = ['Claude Code', 'Codex', 'Zed', 'Cursor', 'Unknown'];
const pick = <T>(list: readonly T[], i: number) => list[i % list.length] as T;

/** One interception and its children (a prompt, one or two usages, a tool call), as recorded. */
export function generate(i: number, userIds: string[], newest: number): RecordOp[] {
  const id = recordId();
  const started = new Date(newest - i * SPACING_MS);
  const at = (ms: number) => new Date(started.getTime() + ms);
  const p = pick(PROVIDERS, i);
  const child = { interception_id: id, provider_response_id: `resp_${i}` };
  const usages = 1 + (i % 2);
  const ops: RecordOp[] = [
    {
      kind: 'interception',
      doc: {
        _id: id,
        initiator_id: pick(userIds, i * 7),
        api_key_id: 'bench-key',
        provider: p.provider,
        provider_name: p.provider_name,
        model: pick(p.models, i >> 1),
        client: pick(CLIENTS, i * 3),
        user_agent: 'bench/1.0',
        client_session_id: `session-${i >> 3}`,
        started_at: started,
        ended_at: at(4_000),
        status: i % 50 === 0 ? 'failed' : 'completed',
        cost_usd: 0.01 * usages,
        totals: {
          input_tokens: 1_000 * usages,
          output_tokens: 200 * usages,
          cache_read_input_tokens: 5_000 * usages,
          cache_write_input_tokens: 300,
          tool_calls: 1,
        },
        metadata: {},
      },
    },
    {
      kind: 'user_prompt',
      doc: { _id: recordId(), ...child, prompt: `task ${i}: refactor the module`, created_at: at(1) },
    },
    {
      kind: 'tool_usage',
      doc: {
        _id: recordId(),
        ...child,
        tool_call_id: `call_${i}`,
        server_url: 'http://127.0.0.1:9000/mcp',
        tool: 'search_issues',
        input: '{"query":"is:open label:bug"}',
        injected: true,
        invocation_error: null,
        output: 'issue #1: flaky test',
        duration_ms: 12,
        metadata: {},
        created_at: at(1_500),
      },
    },
  ];
  for (let n = 0; n < usages; n++) {
    ops.push({
      kind: 'token_usage',
      doc: {
        _id: recordId(),
        ...child,
        input_tokens: 1_000,
        output_tokens: 200,
        cache_read_input_tokens: 5_000,
        cache_write_input_tokens: n === 0 ? 300 : 0,
        cost_usd: 0.01,
        metadata: {},
        created_at: at(1_000 * (n + 1)),
      },
    });
  }
  return ops;
}

export async function seed(store: Store, rows: number, userIds: string[], newest: number): Promise<number> {
  const started = Date.now();
  for (let from = 0; from < rows; from += BATCH) {
    const ops: RecordOp[] = [];
    for (let k = from; k < Math.min(rows, from + BATCH); k++) ops.push(...generate(k, userIds, newest));
    await store.records.write(ops);
    if ((from / BATCH) % 25 === 0) process.stderr.write(`seeded ${from + BATCH}/${rows}\r`);
  }
  process.stderr.write('\n');
  return (Date.now() - started) / 1000;
}

/** p50/p99 of repeated runs (after warm-up), in ms. */
async function timed(once: () => Promise<unknown>) {
  for (let i = 0; i < 3; i++) await once();
  const samples: number[] = [];
  const deadline = Date.now() + 60_000;
  while (samples.length < SAMPLES && (samples.length < 3 || Date.now() < deadline)) {
    const t = performance.now();
    await once();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return {
    p50_ms: +percentile(samples, 50).toFixed(2),
    p99_ms: +percentile(samples, 99).toFixed(2),
    n: samples.length,
  };
}

async function page(url: string, token: string) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { results?: unknown[] };
  if (response.status !== 200 || !body.results?.length) throw new Error(`${url}: ${response.status}`);
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
      // indexOf, not a loop over bytes: this process also serves the export being measured.
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) rows++;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`export exited ${code}`));
      const seconds = (performance.now() - started) / 1000;
      done({ rows, seconds: +seconds.toFixed(2), per_second: Math.round(rows / seconds) });
    });
  });
}

async function bench(kind: string, rows: number) {
  const { store, label, close } = await openBenchStore(kind);
  const dataDir = mkdtempSync(resolve(tmpdir(), 'aibridge-bench-audit-'));
  try {
    const users = new Users(store);
    const userIds: string[] = [];
    for (let u = 0; u < USERS; u++) userIds.push((await users.create(`dev${u}`))._id);
    const owner = await users.create('bench-owner', { role: 'owner' });
    const { token } = await users.createToken(owner._id);
    const newest = Date.now() - 60_000;
    process.stderr.write(`${label}: seeding ${rows} interceptions…\n`);
    const seedSeconds = await seed(store, rows, userIds, newest);
    const config = validateConfig({ listen: '127.0.0.1:0', data_dir: dataDir, retention: 0 }, 'bench', {});
    const server = await startServer(config, {
      logger: createLogger({ level: 'warn' }),
      store: { ...store, close: async () => {} },
      drainMs: 1_000,
    });
    try {
      const api = `${server.url}/api/v2/aibridge`;
      const q = (text: string) => `${api}/interceptions?limit=100&q=${encodeURIComponent(text)}`;
      const hourAgo = new Date(newest - 3_600_000).toISOString();
      const filters: Record<string, [string, InterceptionFilter]> = {
        initiator: ['initiator:dev3', { initiator_id: userIds[3] }],
        provider_client: ['provider:anthropic client:"Claude Code"', { provider: 'anthropic', client: 'Claude Code' }],
        last_hour: [`started_after:${hourAgo}`, { started_after: new Date(hourAgo) }],
      };
      const deep = await store.audit.list({}, { limit: 1, offset: Math.floor(rows * 0.9) });
      const pages = {
        first_page: await timed(() => page(`${api}/interceptions?limit=100`, token)),
        ...Object.fromEntries(
          await Object.entries(filters).reduce(
            async (acc, [name, [text]]) => [...(await acc), [`page_${name}`, await timed(() => page(q(text), token))]],
            Promise.resolve([] as Array<[string, unknown]>),
          ),
        ),
        deep_page_after_id: await timed(() =>
          page(`${api}/interceptions?limit=100&after_id=${deep[0]?.interception._id}`, token),
        ),
      };
      const counts: Record<string, unknown> = { count_all: await timed(() => store.audit.count({})) };
      for (const [name, [, filter]] of Object.entries(filters))
        counts[`count_${name}`] = await timed(() => store.audit.count(filter));
      const usage: Record<string, unknown> = {};
      for (const groupBy of [['model'], ['initiator'], ['initiator', 'day']] as UsageKey[][]) {
        usage[`usage_by_${groupBy.join('_')}`] = await timed(() => store.audit.usage({}, groupBy));
      }
      const exported = rows <= EXPORT_MAX ? await exportAll(server.url, token) : null;
      if (exported && exported.rows !== rows) throw new Error(`export wrote ${exported.rows} rows, expected ${rows}`);
      const latency = { ...pages, ...counts, ...usage };
      console.log(`\n${label}: ${rows} interceptions (seeded in ${seedSeconds.toFixed(1)} s)`);
      console.table(latency);
      if (exported)
        console.log(
          `export --all --format ndjson: ${exported.rows} rows in ${exported.seconds} s = ${exported.per_second}/s`,
        );
      return {
        store: label,
        interceptions: rows,
        seed_seconds: +seedSeconds.toFixed(1),
        latency,
        export_ndjson: exported,
      };
    } finally {
      await server.close();
    }
  } finally {
    await close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const results = [];
  for (const kind of KINDS) for (const rows of sizesFor(kind)) results.push(await bench(kind, rows));
  writeResults('audit-results.json', {
    date: new Date().toISOString(),
    node: process.version,
    targets: {
      embedded: {
        page_p50_ms: { '100000': 10, '1000000': 20 },
        count_ms: 50,
        usage_ms_at_100000: 50,
        export_per_second: 20_000,
      },
    },
    results,
  });
}
