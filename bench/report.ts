// The benchmark's results as JSON (bench/results.json) and as the table it prints, with each target.

interface Percentiles {
  p50_ms: number;
  p99_ms: number;
}

interface Window {
  rps: number;
  /** CPU of the process tree that served the window (all threads and workers), per request. */
  cpu_ms_per_request: number | null;
}

export interface Results {
  date: string;
  machine: { cpus: number; cpu: string; os: string; node: string };
  quick: boolean;
  /** Runs this is the median of (bench/median.ts); absent for one run. */
  runs?: number;
  samples: number;
  window_ms: number;
  rounds: number;
  cases: Record<
    string,
    {
      request_bytes: number;
      /** Sequential requests (c=1): direct to the upstream, through the floor, the bridge, a compared gateway. */
      latency: Record<string, Percentiles>;
      /** Over direct. */
      added: Record<string, Percentiles>;
      /** By concurrency, then floor | bridge_1 | bridge_2 (workers) | compare: median of the rounds. */
      throughput: Record<string, Record<string, Window>>;
    }
  >;
  tool_loop?: Record<string, number>;
  /** KiB each further idle stream costs: live heap after a full GC, and resident memory. */
  idle_streams?: {
    count: number;
    bridge_heap_kb_per_stream: number;
    bridge_rss_kb_per_stream: number;
    floor_heap_kb_per_stream: number;
    floor_rss_kb_per_stream: number;
  };
  /** Per process of each bridge run: resident KiB after start, and at the peak of the run. */
  memory: Record<string, Array<{ role: string; idle_kb: number; peak_kb: number }>>;
  targets?: Array<{ what: string; target: string; value: string; met: boolean }>;
}

const ms = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(2));
const rps = (w: Window | undefined) => (w ? w.rps.toFixed(0) : '–');
const cpu = (w: Window | undefined) => (w?.cpu_ms_per_request == null ? '–' : w.cpu_ms_per_request.toFixed(3));

/**
 * The latency, throughput and CPU targets (README, "Performance"), each with the figure measured
 * for it: the bridge's added latency against the floor proxy's, in the same run.
 */
function targets(r: Results): NonNullable<Results['targets']> {
  const out: NonNullable<Results['targets']> = [];
  const at = (label: string, c: number) => r.cases[label]?.throughput[c];
  for (const label of Object.keys(r.cases)) {
    const bridge = r.cases[label]?.added.bridge;
    const floor = r.cases[label]?.added.floor;
    if (bridge && floor) {
      for (const [key, times] of [
        ['p50_ms', 1.5],
        ['p99_ms', 2],
      ] as const) {
        out.push({
          what: `${label}: added ${key.slice(0, 3)}`,
          target: `≤ ${times}× the floor's`,
          value: `${ms(bridge[key])} ms (the floor ${ms(floor[key])} ms)`,
          met: bridge[key] <= times * Math.max(floor[key], 0),
        });
      }
    }
    const w = at(label, 32);
    if (label !== '80 KB Claude Code') {
      for (const workers of [1, 2]) {
        const served = w?.[`bridge_${workers}`] as Window | undefined;
        if (!served || !w?.floor) continue;
        const share = served.rps / w.floor.rps;
        out.push({
          what: `${label}: c=32 req/s vs floor, ${workers} worker${workers > 1 ? 's' : ''}`,
          target: '≥ 60 %',
          value: `${(share * 100).toFixed(0)} %`,
          met: share >= 0.6,
        });
      }
    }
    const cpuBridge = w?.bridge_1?.cpu_ms_per_request;
    const cpuFloor = w?.floor?.cpu_ms_per_request;
    if (cpuBridge == null || cpuFloor == null) continue;
    out.push({
      what: `${label}: CPU per request vs floor (c=32, 1 worker)`,
      target: '≤ 2×',
      value: `${(cpuBridge / cpuFloor).toFixed(1)}× (${cpu(w?.bridge_1)} / ${cpu(w?.floor)} ms)`,
      met: cpuBridge <= 2 * cpuFloor,
    });
  }
  if (r.idle_streams) {
    const { bridge_heap_kb_per_stream: kb, floor_heap_kb_per_stream: floor } = r.idle_streams;
    out.push({
      what: '1 000 idle streams (heap after GC)',
      target: '≤ 10 KB each',
      value: `${kb.toFixed(1)} KB (${(kb - floor).toFixed(1)} KB over the floor's)`,
      met: kb <= 10,
    });
  }
  return out;
}

export function printReport(r: Results): void {
  r.targets = targets(r);
  const hasCompare = Object.values(r.cases).some((c) => c.added.compare);
  const lines = [
    `AI Bridge benchmark, ${r.date.slice(0, 10)}, ${r.machine.cpus} cores, Node ${r.machine.node}` +
      ` (${r.quick ? 'quick' : 'full'}: ${r.samples} sequential samples per target, ${r.rounds} rounds of ${r.window_ms / 1000} s windows` +
      `${r.runs ? `; median of ${r.runs} runs` : ''})`,
    '',
    `| case | added p50 / p99 ms: bridge (floor${hasCompare ? ', compared' : ''}) | CPU ms/req at c=32: bridge 1 w / 2 w (floor${hasCompare ? ', compared' : ''}) | req/s c=32: 1 w / 2 w / floor${hasCompare ? ' / compared' : ''} | req/s c=256: 1 w / 2 w / floor${hasCompare ? ' / compared' : ''} |`,
    '|---|---|---|---|---|',
  ];
  for (const [label, c] of Object.entries(r.cases)) {
    const a = c.added;
    const t32 = c.throughput[32] ?? {};
    const t256 = c.throughput[256] ?? {};
    const cmp = (text: string) => (hasCompare ? text : '');
    lines.push(
      `| ${label} (${(c.request_bytes / 1024).toFixed(c.request_bytes > 10_000 ? 0 : 1)} KB) ` +
        `| ${ms(a.bridge?.p50_ms)} / ${ms(a.bridge?.p99_ms)} (${ms(a.floor?.p50_ms)} / ${ms(a.floor?.p99_ms)}${cmp(`; ${ms(a.compare?.p50_ms)} / ${ms(a.compare?.p99_ms)}`)}) ` +
        `| ${cpu(t32.bridge_1)} / ${cpu(t32.bridge_2)} (${cpu(t32.floor)}${cmp(`; ${cpu(t32.compare)}`)}) ` +
        `| ${rps(t32.bridge_1)} / ${rps(t32.bridge_2)} / ${rps(t32.floor)}${cmp(` / ${rps(t32.compare)}`)} ` +
        `| ${rps(t256.bridge_1)} / ${rps(t256.bridge_2)} / ${rps(t256.floor)}${cmp(` / ${rps(t256.compare)}`)} |`,
    );
  }
  if (r.tool_loop) {
    lines.push(
      '',
      `Tool loop, one iteration (upstream → MCP echo → upstream): p50 ${ms(r.tool_loop.bridge_p50_ms)} ms, ` +
        `p99 ${ms(r.tool_loop.bridge_p99_ms)} ms; the bridge's own share p50 ${ms(r.tool_loop.bridge_overhead_p50_ms)} ms`,
    );
  }
  if (r.idle_streams) {
    const i = r.idle_streams;
    lines.push(
      `${i.count} more idle streams: bridge ${i.bridge_heap_kb_per_stream.toFixed(1)} KB heap ` +
        `(${i.bridge_rss_kb_per_stream.toFixed(1)} KB resident) each; floor ${i.floor_heap_kb_per_stream.toFixed(1)} KB ` +
        `(${i.floor_rss_kb_per_stream.toFixed(1)} KB)`,
    );
  }
  for (const [run, processes] of Object.entries(r.memory)) {
    const mb = (kb: number) => (kb / 1024).toFixed(0);
    lines.push(
      `Memory, ${run.replace('bridge_', '')} worker(s): ` +
        processes.map((p) => `${p.role} ${mb(p.idle_kb)} MB idle, ${mb(p.peak_kb)} MB peak`).join('; '),
    );
  }
  lines.push('', '| target | goal | measured | |', '|---|---|---|---|');
  for (const t of r.targets) lines.push(`| ${t.what} | ${t.target} | ${t.value} | ${t.met ? 'met' : 'not met'} |`);
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
