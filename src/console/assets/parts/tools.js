// Which tools the models called, counted from interceptions' recorded tool calls.
import { h } from '../lib/dom.js';
import { duration, int } from '../lib/format.js';
import { badge, table } from '../lib/ui.js';

/** Groups tool calls by tool (and server, for injected ones): calls, failures, mean duration. */
export function countTools(interceptions) {
  const byKey = new Map();
  for (const i of interceptions) {
    for (const t of i.tool_usages) {
      const server = t.injected ? (t.metadata?.server ?? t.server_url ?? '') : '';
      const key = `${t.injected}\u0000${server}\u0000${t.tool}`;
      const row = byKey.get(key) ?? {
        tool: t.tool,
        server,
        injected: t.injected,
        calls: 0,
        failed: 0,
        ms: 0,
        timed: 0,
      };
      row.calls++;
      if (t.invocation_error) row.failed++;
      if (typeof t.duration_ms === 'number') {
        row.ms += t.duration_ms;
        row.timed++;
      }
      byKey.set(key, row);
    }
  }
  return [...byKey.values()].sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool));
}

export function toolsTable(rows, caption) {
  return table(
    [
      {
        label: 'Tool',
        cls: 'clip',
        cell: (r) => [h('code', null, r.tool), r.server ? h('span', { class: 'muted small' }, ` · ${r.server}`) : null],
      },
      { label: 'Kind', cell: (r) => (r.injected ? badge('injected', 'info') : badge('client')) },
      { label: 'Calls', num: true, cell: (r) => int(r.calls) },
      { label: 'Failed', num: true, cell: (r) => (r.failed ? h('span', { class: 'badge bad' }, int(r.failed)) : '0') },
      { label: 'Mean time', num: true, cell: (r) => (r.timed ? duration(r.ms / r.timed) : '—') },
    ],
    rows,
    { caption, emptyText: 'No tool calls in these interceptions.' },
  );
}
