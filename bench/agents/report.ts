// The agents benchmark's results: the JSON it writes and the Markdown table it prints and writes.
import { percentile } from '../load.ts';
import { KINDS, type Kind, type Tally } from './client.ts';

export interface Percentiles {
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  n: number;
}

export interface SystemResult {
  calls: number;
  errors: number;
  error_messages: Record<string, number>;
  /** Mean request body a call sent (the same conversations everywhere: a check that they were). */
  mean_request_kb: number;
  total: Percentiles;
  /** Streamed calls only (a side request's first byte is its whole answer). */
  ttfb: Percentiles;
  by_kind: Partial<Record<Kind, { total: Percentiles; ttfb: Percentiles }>>;
  /** Over direct (the upstream called by the client itself); absent for direct. */
  added?: { total: Percentiles; ttfb: Percentiles; by_kind: Partial<Record<Kind, Percentiles>> };
  /** Added p50 and p99 of each round on its own (against that round's direct run): the spread. */
  rounds_added?: Array<{ p50_ms: number; p99_ms: number }>;
  /** User + system CPU of the serving processes (all threads) per call; null when they are not known. */
  cpu_ms_per_call: number | null;
  memory?: {
    /** Resident memory while the sessions ran, over the same before the round, per session (median of rounds). */
    rss_kb_per_session: number | null;
    /** Live heap after a full collection halfway through a round, over the same idle, per session. */
    heap_kb_per_session?: number;
    /** Calls in flight when the heap was read. */
    heap_read_in_flight?: number;
  };
  /** The load generator's own event-loop delay while this system ran: high means the figures are the generator's. */
  generator_loop_delay_p99_ms: number;
  /** The upstream's own event-loop delay (worst round): high means its pace slipped, for every system alike. */
  upstream_loop_delay_p99_ms: number;
}

export interface AgentResults {
  date: string;
  machine: { cpus: number; cpu: string; os: string; node: string };
  /** Load average (1 min) before and after the run: a busy machine makes tails unreliable. */
  load_average: { before: number; after: number };
  options: Record<string, unknown>;
  systems: Record<string, SystemResult>;
  /** `judged` false: the machine lagged as much as the goal, so the figure says nothing about it. */
  targets?: Array<{ what: string; target: string; value: string; met: boolean; judged: boolean }>;
}

/** Numeric sort of many values (a typed array sorts by value, and fast). */
const sortedOf = (values: number[]) => Array.from(Float64Array.from(values).sort());

export function percentiles(values: number[]): Percentiles {
  const sorted = sortedOf(values);
  return {
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    p999_ms: percentile(sorted, 99.9),
    n: sorted.length,
  };
}

const minus = (a: Percentiles, b: Percentiles): Percentiles => ({
  p50_ms: a.p50_ms - b.p50_ms,
  p99_ms: a.p99_ms - b.p99_ms,
  p999_ms: a.p999_ms - b.p999_ms,
  n: a.n,
});

const pick = (values: number[], keep: (i: number) => boolean) => values.filter((_, i) => keep(i));

/** Latency figures of one system from its calls. */
export function latencyOf(tally: Tally) {
  const streamed = (i: number) => tally.kind[i] !== 'side';
  const by_kind: SystemResult['by_kind'] = {};
  for (const kind of KINDS) {
    const mine = (i: number) => tally.kind[i] === kind;
    if (!tally.kind.includes(kind)) continue;
    by_kind[kind] = {
      total: percentiles(pick(tally.totalMs, mine)),
      ttfb: percentiles(pick(tally.ttfbMs, mine)),
    };
  }
  const bytes = tally.requestBytes.reduce((a, b) => a + b, 0);
  return {
    calls: tally.calls,
    errors: tally.errors,
    error_messages: Object.fromEntries(tally.errorMessages),
    mean_request_kb: tally.calls ? bytes / tally.calls / 1024 : 0,
    total: percentiles(tally.totalMs),
    ttfb: percentiles(pick(tally.ttfbMs, streamed)),
    by_kind,
  };
}

/** Added latency from paired calls: percentiles of each call's difference (TTFB: streamed calls only). */
export function addedPaired(tally: Tally) {
  const by_kind: Partial<Record<Kind, Percentiles>> = {};
  for (const kind of KINDS) {
    if (tally.kind.includes(kind)) by_kind[kind] = percentiles(pick(tally.addedTotalMs, (i) => tally.kind[i] === kind));
  }
  return {
    total: percentiles(tally.addedTotalMs),
    ttfb: percentiles(pick(tally.addedTtfbMs, (i) => tally.kind[i] !== 'side')),
    by_kind,
  };
}

export function addedOver(system: ReturnType<typeof latencyOf>, direct: ReturnType<typeof latencyOf>) {
  const by_kind: Partial<Record<Kind, Percentiles>> = {};
  for (const kind of KINDS) {
    const mine = system.by_kind[kind];
    const theirs = direct.by_kind[kind];
    if (mine && theirs) by_kind[kind] = minus(mine.total, theirs.total);
  }
  return { total: minus(system.total, direct.total), ttfb: minus(system.ttfb, direct.ttfb), by_kind };
}

const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(2));
const triple = (p: Percentiles | undefined) => (p ? `${ms(p.p50_ms)} / ${ms(p.p99_ms)} / ${ms(p.p999_ms)}` : '–');
const kb = (n: number | null | undefined) => (n == null || Number.isNaN(n) ? '–' : n.toFixed(0));

const KIND_LABEL: Record<Kind, string> = {
  main: 'streamed call',
  loop: 'streamed call with an injected tool call',
  side: 'side request (blocking, fast model)',
};

/**
 * The agents benchmark's target (README "Coding-agent sessions") with the figure measured for it.
 * A figure is judged only when neither the load generator nor the upstream lagged as much as the
 * target itself: else it is the machine's.
 */
function targets(r: AgentResults): NonNullable<AgentResults['targets']> {
  const bridge = r.systems.bridge;
  if (!bridge?.added) return [];
  const goal = 5;
  const lag = Math.max(bridge.generator_loop_delay_p99_ms, bridge.upstream_loop_delay_p99_ms);
  const value = bridge.added.total.p999_ms;
  const reliable = lag < goal;
  return [
    {
      what: `added p99.9 per call, ${r.options.sessions} sessions`,
      target: `≤ ${goal} ms`,
      value: reliable
        ? `${ms(value)} ms`
        : `${ms(value)} ms — not judged: the load generator or the upstream lagged ${ms(lag)} ms (p99)`,
      met: reliable && value <= goal,
      judged: reliable,
    },
  ];
}

export function markdown(r: AgentResults): string {
  r.targets = targets(r);
  const o = r.options;
  const lines = [
    `AI Bridge agents benchmark, ${r.date.slice(0, 10)}, ${r.machine.cpus} cores (${r.machine.cpu}), Node ${r.machine.node}; ` +
      `load average ${r.load_average.before.toFixed(2)} before, ${r.load_average.after.toFixed(2)} after`,
    '',
    `${o.sessions} sessions at once (${Math.round(Number(o.codex_share) * 100)} % Codex, the rest Claude Code), ` +
      `${o.prompts} prompts each, ${o.rounds} interleaved rounds; upstream: first token after ${o.ttft_ms} ms, ` +
      `then an event every ${o.token_ms} ms (${o.tokens} text events in an answer); side requests answered after ${o.side_ms} ms. ` +
      (o.paired
        ? 'Added: each call against the same call sent to the upstream itself at the same moment (paired), percentiles of the differences.'
        : 'Added: a percentile of the system’s calls minus the same percentile of direct’s (its own rounds).'),
    '',
    '| system | calls (errors) | request KB | added per call p50 / p99 / p99.9 ms | added TTFB p50 / p99 / p99.9 ms | rounds: added p50, p99 ms | CPU ms per call | KB per open session: heap / RSS |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, s] of Object.entries(r.systems)) {
    const spread = s.rounds_added?.length
      ? `${ms(Math.min(...s.rounds_added.map((x) => x.p50_ms)))}–${ms(Math.max(...s.rounds_added.map((x) => x.p50_ms)))}, ` +
        `${ms(Math.min(...s.rounds_added.map((x) => x.p99_ms)))}–${ms(Math.max(...s.rounds_added.map((x) => x.p99_ms)))}`
      : '–';
    const latency = s.added
      ? `| ${triple(s.added.total)} | ${triple(s.added.ttfb)} `
      : `| itself: ${triple(s.total)} | itself: ${triple(s.ttfb)} `;
    lines.push(
      `| ${name} | ${s.calls} (${s.errors}) | ${s.mean_request_kb.toFixed(1)} ${latency}| ${spread} ` +
        `| ${s.cpu_ms_per_call == null ? '–' : s.cpu_ms_per_call.toFixed(3)} ` +
        `| ${kb(s.memory?.heap_kb_per_session)} / ${kb(s.memory?.rss_kb_per_session)} |`,
    );
  }
  const others = Object.keys(r.systems).filter((n) => n !== 'direct');
  lines.push(
    '',
    `| call | calls | direct p50 / p99 / p99.9 ms | ${others.map((n) => `${n}: added p50 / p99 / p99.9 ms`).join(' | ')} |`,
    `|---|---|---|${others.map(() => '---|').join('')}`,
  );
  const direct = r.systems.direct;
  for (const kind of KINDS) {
    const d = direct?.by_kind[kind];
    if (!d) continue;
    lines.push(
      `| ${KIND_LABEL[kind]} | ${d.total.n} | ${triple(d.total)} | ${others.map((n) => triple(r.systems[n]?.added?.by_kind[kind])).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    `Event-loop delay p99 (worst round) of the load generator / the upstream while each system ran: ` +
      Object.entries(r.systems)
        .map(([n, s]) => `${n} ${ms(s.generator_loop_delay_p99_ms)} / ${ms(s.upstream_loop_delay_p99_ms)} ms`)
        .join(', ') +
      " — where these are as large as the added figures, those figures are the machine's, not the system's.",
  );
  for (const [name, s] of Object.entries(r.systems)) {
    for (const [message, count] of Object.entries(s.error_messages)) lines.push(`- ${name}: ${count} × ${message}`);
  }
  if (r.targets.length) {
    lines.push('', '| target | goal | measured | |', '|---|---|---|---|');
    for (const t of r.targets)
      lines.push(`| ${t.what} | ${t.target} | ${t.value} | ${t.judged ? (t.met ? 'met' : 'not met') : 'not judged'} |`);
  }
  return `${lines.join('\n')}\n`;
}
