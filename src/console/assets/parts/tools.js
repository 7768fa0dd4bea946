// The tools the models called most, as the API's tool summary gives them.
import { h } from '../lib/dom.js';
import { duration, int } from '../lib/format.js';
import { badge, table } from '../lib/ui.js';

/** An MCP server as configured (its name when it ran); its host for records from before names were kept. */
const server = (r) => {
  if (r.server) return r.server;
  try {
    return new URL(r.server_url).host;
  } catch {
    return r.server_url;
  }
};

export function toolsTable(rows, caption) {
  return table(
    [
      {
        label: 'Tool',
        cls: 'clip',
        cell: (r) => [
          h('code', null, r.tool),
          r.injected && (r.server || r.server_url)
            ? h('span', { class: 'muted small', title: r.server_url ?? '' }, ` · ${server(r)}`)
            : null,
        ],
      },
      { label: 'Kind', cell: (r) => (r.injected ? badge('injected', 'info') : badge('client')) },
      { label: 'Calls', num: true, cell: (r) => int(r.calls) },
      { label: 'Failed', num: true, cell: (r) => (r.failed ? h('span', { class: 'badge bad' }, int(r.failed)) : '0') },
      {
        label: 'Mean time',
        num: true,
        cell: (r) => (r.mean_duration_ms === null ? '—' : duration(r.mean_duration_ms)),
      },
    ],
    rows,
    { caption, emptyText: 'No tool calls in this range.' },
  );
}
