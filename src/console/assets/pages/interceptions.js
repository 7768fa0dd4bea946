// Interceptions: the audit list with the q filter, paging by after_id, and exports.
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { download, EXPORT_CAP, fetchAll, toCsv, toNdjson } from '../lib/export.js';
import { cost, inputParts, int, person, time, tokens, via } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { badge, busy, errorBox, pageHead, statusBadge, table } from '../lib/ui.js';
import { filterBox } from '../parts/filter.js';
import { paged } from '../parts/pager.js';

const PAGE = 50;

export const interceptionColumns = [
  {
    label: 'Time',
    cell: (r) =>
      h('a', { href: href('/interceptions', r.id), 'aria-label': `Interception ${r.id}` }, time(r.started_at)),
  },
  { label: 'User', cell: (r) => person(r.initiator) },
  {
    label: 'Client',
    cell: (r) => (r.metadata?.via === 'proxy' ? [r.client, ' ', badge('proxy', 'info', via(r))] : r.client),
  },
  { label: 'Model', cls: 'clip', cell: (r) => r.model },
  {
    label: 'Tokens in / out',
    num: true,
    cell: (r) => {
      const t = tokens(r);
      return h('span', { title: `input: ${inputParts(t)}` }, `${int(t.input)} / ${int(t.output)}`);
    },
  },
  { label: 'Cost', num: true, cell: (r) => cost(r.cost_usd) },
  { label: 'Tools', num: true, cell: (r) => (r.tool_usages.length ? badge(int(r.tool_usages.length), 'info') : '0') },
  { label: 'Status', cell: (r) => statusBadge(r.status) },
];

function exportButton(label, q, status, build) {
  const button = h('button', { type: 'button' }, label);
  button.addEventListener('click', () =>
    busy(button, async () => {
      fill(status, `Exporting…`);
      try {
        const rows = await fetchAll(q, (done, count) => {
          status.textContent = `Exporting ${int(done)} of ${int(Math.min(count, EXPORT_CAP))}…`;
        });
        build(rows);
        status.textContent = `Exported ${int(rows.length)} interceptions.`;
      } catch (err) {
        fill(status, errorBox(err));
      }
    }),
  );
  return button;
}

export async function renderInterceptions(view, { params, everyone }) {
  const q = params.get('q') ?? '';
  const status = h('div', { class: 'muted small', role: 'status' });
  const stamp = new Date().toISOString().slice(0, 19).replaceAll(':', '-');
  view.append(
    pageHead(
      'Interceptions',
      'Every request an agent made through the bridge, newest first',
      exportButton('Export CSV', q, status, (rows) => download(`interceptions-${stamp}.csv`, 'text/csv', toCsv(rows))),
      exportButton('Export NDJSON', q, status, (rows) =>
        download(`interceptions-${stamp}.ndjson`, 'application/x-ndjson', toNdjson(rows)),
      ),
    ),
    status,
    filterBox(q, (next) => go(href('/interceptions', { q: next })), { everyone }),
  );
  const results = h('section', { class: 'results', 'aria-label': 'Results' });
  view.append(results);
  const cursors = [undefined]; // cursors[n]: the after_id that opens page n
  await paged(
    results,
    PAGE,
    async (n) => {
      const page = await api('/interceptions', { params: { q, limit: PAGE, after_id: cursors[n] } });
      cursors[n + 1] = page.results.at(-1)?.id;
      return { rows: page.results, total: page.count, more: n * PAGE + page.results.length < page.count };
    },
    (rows) =>
      table(interceptionColumns, rows, {
        caption: 'Interceptions',
        emptyText: q ? 'No interceptions match this filter.' : 'No interceptions recorded yet.',
      }),
  );
}
