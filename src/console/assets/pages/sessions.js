// Sessions: interceptions grouped by the agent's own session id, most recently active first.
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { cost, duration, int, person, time } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { errorBox, loading, pageHead, table } from '../lib/ui.js';
import { filterBox } from '../parts/filter.js';

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
  {
    label: 'Span',
    num: true,
    cell: (s) => (s.interceptions > 1 ? duration(Date.parse(s.last_started_at) - Date.parse(s.first_started_at)) : '—'),
  },
  { label: 'Turns', num: true, cell: (s) => int(s.interceptions) },
  { label: 'Tokens in / out', num: true, cell: (s) => `${int(s.input_tokens)} / ${int(s.output_tokens)}` },
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
  let offset = 0;

  async function show(focus) {
    fill(results, loading());
    let page;
    try {
      // One extra row tells whether an older page exists (the sessions list has no count).
      page = await api('/sessions', { params: { q, limit: PAGE + 1, offset: offset || undefined } });
    } catch (err) {
      return fill(results, errorBox(err));
    }
    const rows = page.results.slice(0, PAGE);
    const newer = h('button', { type: 'button', disabled: offset === 0 }, '← Newer');
    const older = h('button', { type: 'button', disabled: page.results.length <= PAGE }, 'Older →');
    newer.addEventListener('click', () => {
      offset = Math.max(0, offset - PAGE);
      show(newer.textContent);
    });
    older.addEventListener('click', () => {
      offset += PAGE;
      show(older.textContent);
    });
    fill(
      results,
      table(columns, rows, {
        caption: 'Sessions',
        emptyText: q
          ? 'No sessions match this filter.'
          : 'No agent sessions recorded yet. Clients that send a session id (Claude Code, Codex) show up here.',
      }),
      h(
        'div',
        { class: 'pager' },
        h('span', { class: 'muted small' }, rows.length ? `${int(offset + 1)}–${int(offset + rows.length)}` : ''),
        h('div', { class: 'actions' }, newer, older),
      ),
    );
    const target =
      [newer, older].find((b) => b.textContent === focus && !b.disabled) ?? [newer, older].find((b) => !b.disabled);
    if (focus && target) target.focus();
  }
  await show();
}
