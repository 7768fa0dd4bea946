// The tools the models called most, as the API's tool summary gives them.
import { h } from '../lib/dom.js';
import { duration, int } from '../lib/format.js';
import { badge, table } from '../lib/ui.js';

/** An MCP server's host, enough to tell servers apart without the whole URL. */
const host = (url) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
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
          r.server_url ? h('span', { class: 'muted small' }, ` · ${host(r.server_url)}`) : null,
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
