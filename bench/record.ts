/**
 * Recording benchmark (npm run bench:record): offers records to the real recorder at a fixed
 * rate, as interceptions would (a start, a prompt, token usages, a tool call, an end), for a
 * while, and reports the rate the store sustained and the event loop's delay meanwhile.
 * RECORD_BENCH_STORES=embedded,mongodb (MongoDB: MONGODB_URI, else a FerretDB started here),
 * RECORD_BENCH_RATE records/s offered (default 25 000; 2 000 into the FerretDB started here, which
 * takes about 1 200/s), RECORD_BENCH_SECONDS (default 15).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../src/observability/logger.ts';
import { recordId } from '../src/recorder/record-id.ts';
import { JournalRecorder } from '../src/recorder/recorder.ts';
import type { RecordOp } from '../src/store/records.ts';
import type { Store } from '../src/store/store.ts';
import { openBenchStore, writeResults } from './stores.ts';

/** How often the event loop is sampled; the histogram holds whole intervals, so this much of each is no delay. */
const LOOP_DELAY_RESOLUTION_MS = 1;
const loopDelayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);

const rateFor = (kind: string) =>
  Number(process.env.RECORD_BENCH_RATE ?? (kind === 'mongodb' && !process.env.MONGODB_URI ? 2_000 : 25_000));
const SECONDS = Number(process.env.RECORD_BENCH_SECONDS ?? 15);
const KINDS = (process.env.RECORD_BENCH_STORES ?? 'embedded,mongodb').split(',');
const TICK_MS = 10;

/** One interception's records, in the order the observer hands them over: 6 records. */
function interception(i: number): RecordOp[] {
  const id = recordId();
  const now = new Date();
  const child = { interception_id: id, provider_response_id: `resp_${i}`, created_at: now };
  return [
    {
      kind: 'interception',
      doc: {
        _id: id,
        initiator_id: `user-${i % 50}`,
        api_key_id: 'key',
        provider: 'anthropic',
        provider_name: 'anthropic',
        model: 'claude-sonnet-4-5',
        client: 'Claude Code',
        user_agent: 'claude-cli/2.1.332 (external, cli)',
        client_session_id: `session-${i % 200}`,
        started_at: now,
        ended_at: null,
        status: null,
        cost_usd: null,
        totals: null,
        metadata: {},
      },
    },
    {
      kind: 'user_prompt',
      doc: { _id: recordId(), ...child, prompt: `task ${i}: refactor the module and run the tests` },
    },
    {
      kind: 'token_usage',
      doc: {
        _id: recordId(),
        ...child,
        input_tokens: 1_200,
        output_tokens: 300,
        cache_read_input_tokens: 40_000,
        cache_write_input_tokens: 500,
        cost_usd: 0.021,
        metadata: {},
      },
    },
    {
      kind: 'tool_usage',
      doc: {
        _id: recordId(),
        ...child,
        initiator_id: `user-${i % 50}`,
        tool_call_id: `call_${i}`,
        server_url: 'http://127.0.0.1:9000/mcp',
        tool: 'search_issues',
        input: '{"query":"is:open label:bug"}',
        injected: true,
        invocation_error: null,
        output: 'issue #1: flaky test in the recorder\nissue #2: docs',
        duration_ms: 12,
        metadata: {},
      },
    },
    {
      kind: 'token_usage',
      doc: {
        _id: recordId(),
        ...child,
        input_tokens: 200,
        output_tokens: 120,
        cache_read_input_tokens: 41_000,
        cache_write_input_tokens: 0,
        cost_usd: 0.004,
        metadata: {},
      },
    },
    {
      kind: 'interception_ended',
      id,
      ended_at: new Date(),
      status: 'completed',
      cost_usd: 0.025,
      totals: {
        input_tokens: 1_400,
        output_tokens: 420,
        cache_read_input_tokens: 81_000,
        cache_write_input_tokens: 500,
        tool_calls: 1,
        tools: ['search_issues'],
      },
    },
  ];
}

async function run(kind: string, store: Store, rate: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'aibridge-bench-record-'));
  const recorder = new JournalRecorder(store, createLogger({ level: 'error' }), { dataDir });
  const delay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  const perTick = Math.round((rate * TICK_MS) / 1000 / 6);
  // Made in advance, so the event loop's delay measures the recorder, not the generator.
  const ticks = Math.ceil((SECONDS * 1000) / TICK_MS) + 5;
  const prepared = Array.from({ length: ticks * perTick }, (_, i) => interception(i));
  let offered = 0;
  let next = 0;
  delay.enable();
  const started = Date.now();
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) for (const op of prepared[next++] ?? []) recorder.record(op);
      offered += perTick * 6;
      if (Date.now() - started >= SECONDS * 1000) {
        clearInterval(timer);
        done();
      }
    }, TICK_MS);
  });
  const offeredSeconds = (Date.now() - started) / 1000;
  const writtenWhileOffered = recorder.stats().written;
  delay.disable();
  await recorder.flush();
  const drainedSeconds = (Date.now() - started) / 1000;
  const written = recorder.stats().written;
  await recorder.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    store: kind,
    offered_per_second: Math.round(offered / offeredSeconds),
    written_per_second_while_offered: Math.round(writtenWhileOffered / offeredSeconds),
    written_per_second_overall: Math.round(written / drainedSeconds),
    backlog_at_end: offered - writtenWhileOffered,
    event_loop_delay_p50_ms: +loopDelayMs(delay.percentile(50)).toFixed(2),
    event_loop_delay_p99_ms: +loopDelayMs(delay.percentile(99)).toFixed(2),
    event_loop_delay_max_ms: +(delay.max / 1e6).toFixed(2),
  };
}

const results = [];
for (const kind of KINDS) {
  const { store, close } = await openBenchStore(kind);
  try {
    process.stderr.write(`recording into ${store.kind} for ${SECONDS} s at ${rateFor(kind)} records/s offered…\n`);
    results.push(await run(kind, store, rateFor(kind)));
  } finally {
    await close();
  }
}
console.table(Object.fromEntries(results.map(({ store, ...r }) => [store, r])));
writeResults('record-results.json', {
  date: new Date().toISOString(),
  node: process.version,
  seconds: SECONDS,
  targets: { written_per_second: 20_000, event_loop_delay_p99_ms: 5 },
  results,
});
