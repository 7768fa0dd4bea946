// Sessions: interceptions grouped by the agent's own session id, most recently active first.
import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { cost, duration, figures, inputParts, int, person, sessionSpan, time } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { pageHead, table } from '../lib/ui.js';
import { filterBox } from '../parts/filter.js';
import { paged } from '../parts/pager.js';

const PAGE = 50;

const columns = [
  {
    label: 'Session',
    cls: 'clip',
    cell: (s) =>
      h(
        'a',
        { href: href('/sessions', s.client_session_id, { user: s.initiator.id }), class: 'mono' },
        s.client_session_id,
      ),
  },
  { label: 'User', cell: (s) => person(s.initiator) },
  { label: 'Client', cell: (s) => s.client },
  { label: 'Last active', cell: (s) => time(s.last_started_at) },
  { label: 'Span', num: true, cell: (s) => duration(sessionSpan(s)) },
  { label: 'Turns', num: true, cell: (s) => int(s.interceptions) },
  {
    label: 'Tokens in / out',
    num: true,
    cell: (s) => {
      const f = figures([s]);
      return h('span', { title: `input: ${inputParts(f)}` }, `${int(f.input)} / ${int(f.output)}`);
    },
  },
  { label: 'Cost', num: true, cell: (s) => cost(s.cost_usd) },
];

export async function renderSessions(view, { params, everyone }) {
  const q = params.get('q') ?? '';
  view.append(
    pageHead('Sessions', 'Agent sessions (the client’s session id), each a thread of turns'),
    filterBox(q, (next) => go(href('/sessions', { q: next })), { everyone }),
  );
  const results = h('section', { class: 'results', 'aria-label': 'Results' });
  view.append(results);
  await paged(
    results,
    PAGE,
    async (n) => {
      const page = await api('/sessions', { params: { q, limit: PAGE, offset: n * PAGE || undefined } });
      return { rows: page.results, total: page.count, more: n * PAGE + page.results.length < page.count };
    },
    (rows) =>
      table(columns, rows, {
        caption: 'Sessions',
        emptyText: q
          ? 'No sessions match this filter.'
          : 'No agent sessions recorded yet. Clients that send a session id (Claude Code, Codex) show up here.',
      }),
  );
}
