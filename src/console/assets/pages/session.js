// One agent session as a thread: each turn's prompt, the model's tool calls and timing, in order.
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import {
  clockTime,
  cost,
  duration,
  figures,
  inOut,
  inputParts,
  int,
  person,
  sessionSpan,
  time,
  tokens,
  when,
} from '../lib/format.js';
import { quote } from '../lib/query.js';
import { href } from '../lib/router.js';
import { badge, empty, loading, pageHead, statusBadge } from '../lib/ui.js';
import { resultDelay } from '../parts/tool-call.js';
import { annotationList, workRows } from '../parts/work.js';

/** Long prompts are shown cut here; the interception page has them whole. */
const PREVIEW = 600;

function call(t) {
  return h(
    'li',
    null,
    h('code', null, t.tool),
    ' ',
    t.injected ? badge('injected', 'info') : badge('client tool'),
    t.duration_ms !== null && t.duration_ms !== undefined
      ? h('span', { class: 'muted' }, ` ${duration(t.duration_ms)}`)
      : null,
    t.invocation_error ? [' ', badge('failed', 'bad'), h('span', { class: 'muted' }, ` ${t.invocation_error}`)] : null,
    !t.injected && t.result_at
      ? [
          ' ',
          t.is_error ? badge('error result', 'bad') : badge('result', 'ok'),
          h('span', { class: 'muted' }, ` after ${duration(resultDelay(t))}`),
          t.output ? h('span', { class: 'muted clip-line' }, ` ${t.output.split('\n')[0].slice(0, 120)}`) : null,
        ]
      : null,
  );
}

function turn(i, n, t0) {
  const t = tokens(i);
  const prompt = i.user_prompts.at(-1)?.prompt;
  const took = i.ended_at ? duration(Date.parse(i.ended_at) - Date.parse(i.started_at)) : 'running';
  return h(
    'li',
    { class: 'turn' },
    h(
      'div',
      { class: 'card' },
      h(
        'div',
        { class: 'turn-head' },
        h('a', { href: href('/interceptions', i.id) }, h('strong', null, `Turn ${n}`)),
        h(
          'span',
          { title: when(i.started_at) },
          `${clockTime(i.started_at)} (+${duration(Date.parse(i.started_at) - t0)})`,
        ),
        h('code', null, i.model),
        h('span', { class: 'muted' }, `took ${took}`),
        h('span', { class: 'muted', title: `input: ${inputParts(t)}` }, inOut(t)),
        h('span', { class: 'muted' }, cost(i.cost_usd)),
        statusBadge(i.status),
        i.model_thoughts.length ? badge('thinking') : null,
      ),
      prompt
        ? h('p', { class: 'prompt' }, prompt.length > PREVIEW ? `${prompt.slice(0, PREVIEW)}…` : prompt)
        : h('p', { class: 'prompt muted' }, 'No prompt recorded.'),
      i.tool_usages.length ? h('ul', { class: 'calls', 'aria-label': 'Tool calls' }, i.tool_usages.map(call)) : null,
      i.annotations?.length ? annotationList(i.annotations) : null,
    ),
  );
}

export async function renderSession(view, { id, params }) {
  const user = params.get('user');
  view.append(h('div', { class: 'crumbs' }, h('a', { href: '#/sessions' }, '← Sessions')), pageHead('Session', id));
  const body = h('div', null, loading());
  view.append(body);
  const q = `session:${quote(id)}${user ? ` initiator:${quote(user)}` : ''}`;
  // The session's figures come from the sessions API, as on the sessions list: the same numbers, even past 1 000 turns.
  const [page, summaries] = await Promise.all([
    api('/interceptions', { params: { q, limit: 1000 } }),
    api('/sessions', { params: { q, limit: 100 } }),
  ]);
  const turns = page.results.slice().reverse(); // the API lists newest first; a thread reads oldest first
  const summary = summaries.results.find((s) => !user || s.initiator.id === user) ?? summaries.results[0];
  if (!turns.length || !summary) return fill(body, empty('No turns recorded in this session, or none you may see.'));
  const first = turns[0];
  const last = turns.at(-1);
  const t0 = Date.parse(summary.first_started_at);
  const f = figures([summary]);
  view.querySelector('.page-head p').textContent =
    `${person(first.initiator)} · ${first.client} · ${int(page.count)} turns`;
  fill(
    body,
    h(
      'dl',
      { class: 'facts card' },
      h('dt', null, 'Session id'),
      h('dd', null, h('code', null, id)),
      h('dt', null, 'Started'),
      h(
        'dd',
        null,
        time(summary.first_started_at),
        h('span', { class: 'muted small' }, ` · ${when(summary.first_started_at)}`),
      ),
      h('dt', null, 'Span'),
      h('dd', null, duration(sessionSpan(summary))),
      h('dt', null, 'Tokens'),
      h('dd', null, inOut(f), h('span', { class: 'muted small' }, ` · input: ${inputParts(f)}`)),
      h('dt', null, 'Cost'),
      h('dd', null, cost(summary.cost_usd)),
      // The session's work context, as its latest turn shows it.
      workRows(last.work).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    ),
    page.count > turns.length
      ? h('p', { class: 'hint' }, `Showing the latest ${int(turns.length)} of ${int(page.count)} turns.`)
      : null,
    h(
      'ol',
      { class: 'thread', 'aria-label': 'Turns' },
      turns.map((i, n) => turn(i, n + 1, t0)),
    ),
  );
}
