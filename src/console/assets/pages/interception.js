// One interception: the prompt, each upstream call's tokens and cost, every tool call with
// input, output and error, the model's thoughts, and a timeline of the loop.
import { api, seg } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { cost, duration, figures, inOut, inputParts, int, person, time, tokens, via, when } from '../lib/format.js';
import { href } from '../lib/router.js';
import { empty, loading, pageHead, statusBadge, table } from '../lib/ui.js';
import { timeline } from '../parts/timeline.js';
import { cut, textBlock, toolCall } from '../parts/tool-call.js';
import { annotationList, workRows } from '../parts/work.js';

const back = () => h('div', { class: 'crumbs' }, h('a', { href: '#/interceptions' }, '← Interceptions'));

function facts(i) {
  const t = tokens(i);
  const rows = [
    ['User', person(i.initiator)],
    ['Status', statusBadge(i.status)],
    ['Started', [time(i.started_at), h('span', { class: 'muted small' }, ` · ${when(i.started_at)}`)]],
    ['Duration', i.ended_at ? duration(Date.parse(i.ended_at) - Date.parse(i.started_at)) : 'still running'],
    ['Provider', `${i.provider_name} (${i.provider})`],
    ['Model', h('code', null, i.model)],
    ['Client', i.client],
    ['Reached via', via(i)],
    [
      'Session',
      i.client_session_id
        ? h('a', { href: href('/sessions', i.client_session_id, { user: i.initiator.id }) }, i.client_session_id)
        : '—',
    ],
    ['Tokens', [inOut(t), h('span', { class: 'muted small' }, ` · input: ${inputParts(t)}`)]],
    ['Cost', cost(i.cost_usd)],
    ...workRows(i.work),
    ['User agent', i.user_agent ? h('code', null, i.user_agent) : '—'],
    ['Token id', h('code', null, i.api_key_id)],
    ['Interception id', h('code', null, i.id)],
  ];
  return h(
    'dl',
    { class: 'facts' },
    rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
  );
}

function upstreamCalls(i) {
  const t0 = Date.parse(i.started_at);
  return table(
    [
      { label: '#', cell: (u) => int(i.token_usages.indexOf(u) + 1) },
      { label: 'At', num: true, cell: (u) => `+${duration(Date.parse(u.created_at) - t0)}` },
      { label: 'Response', cls: 'clip', cell: (u) => h('code', null, u.provider_response_id ?? '—') },
      { label: 'Input', num: true, cell: (u) => int(figures([u]).input) },
      { label: 'Uncached', num: true, cell: (u) => int(u.input_tokens) },
      { label: 'Cache read', num: true, cell: (u) => int(u.cache_read_input_tokens) },
      { label: 'Cache write', num: true, cell: (u) => int(u.cache_write_input_tokens) },
      { label: 'Output', num: true, cell: (u) => int(u.output_tokens) },
      { label: 'Cost', num: true, cell: (u) => cost(u.cost_usd) },
    ],
    i.token_usages,
    { caption: 'Upstream calls', emptyText: 'No upstream response was recorded.' },
  );
}

const section = (title, ...children) => h('section', null, h('h2', null, title), children);

export async function renderInterception(view, { id }) {
  view.append(back(), pageHead('Interception', id));
  const body = h('div', null, loading());
  view.append(body);
  let i;
  try {
    i = await api(`/interceptions/${seg(id)}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    fill(
      view,
      back(),
      pageHead('Interception not found'),
      empty('No interception with this id exists, or it is not one you may see.'),
    );
    return;
  }
  view.querySelector('.page-head p').textContent = `${i.model} · ${i.client} · ${person(i.initiator)}`;
  fill(
    body,
    h('section', { class: 'card' }, facts(i)),
    section(
      i.user_prompts.length > 1 ? 'Prompts' : 'Prompt',
      i.user_prompts.length
        ? i.user_prompts.map((p) => textBlock('', p.prompt, cut(p, 'prompt')))
        : empty('No prompt was recorded.'),
    ),
    section('Timeline', h('div', { class: 'card' }, timeline(i))),
    section('Upstream calls', upstreamCalls(i)),
    section(
      `Tool calls (${i.tool_usages.length})`,
      i.tool_usages.length ? i.tool_usages.map(toolCall) : empty('The model called no tools.'),
    ),
    i.model_thoughts.length
      ? section(
          'Thoughts',
          i.model_thoughts.map((t) => textBlock(t.source, t.content, cut(t, 'content'))),
        )
      : null,
    i.annotations?.length
      ? section('Work context given here', h('div', { class: 'card' }, annotationList(i.annotations)))
      : null,
  );
}
