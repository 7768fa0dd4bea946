// Overview: spend and tokens per day, failure rate, top users (owners and auditors), top
// models and top tools over a time range.
import { api } from '../lib/api.js';
import { barChart } from '../lib/chart.js';
import { fill, h } from '../lib/dom.js';
import { day, figures, inputParts, int, pct, person, short, usd } from '../lib/format.js';
import { daysBetween, rangeOf, rangeQuery, withTerm } from '../lib/query.js';
import { href } from '../lib/router.js';
import { badge, empty, loading, pageHead } from '../lib/ui.js';
import { leaderboard } from '../parts/leaderboard.js';
import { rangePicker } from '../parts/range.js';
import { toolsTable } from '../parts/tools.js';

function total(groups, key) {
  return groups.reduce((sum, g) => sum + (g[key] ?? 0), 0);
}

function stat(label, value, note) {
  return h(
    'div',
    { class: 'card stat' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    note ? h('div', { class: 'muted small' }, note) : null,
  );
}

function perDay(range, groups) {
  const slots = daysBetween(range.after, range.end);
  const byDay = new Map(groups.map((g) => [g.key.day, g]));
  const pick = (key) => slots.map((d) => byDay.get(d)?.[key] ?? 0);
  const input = slots.map((d) => figures(byDay.has(d) ? [byDay.get(d)] : []).input);
  return h(
    'div',
    { class: 'grid' },
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Spend per day'),
      barChart({
        slots,
        series: [pick('cost_usd')],
        format: usd,
        axis: 'usd',
        label: day,
        title: 'Spend per day (UTC)',
      }),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Tokens per day'),
      barChart({
        slots,
        series: [input, pick('output_tokens')],
        names: ['input', 'output'],
        format: short,
        label: day,
        title: 'Input and output tokens per day (UTC)',
      }),
      h(
        'div',
        { class: 'legend' },
        h('span', null, h('span', { class: 'swatch' }), 'input (uncached + cache reads + cache writes)'),
        h('span', null, h('span', { class: 'swatch two' }), 'output'),
      ),
    ),
  );
}

export async function renderOverview(view, { params, everyone }) {
  const range = rangeOf(params);
  const q = rangeQuery(range);
  const filtered = (key, value) => href('/interceptions', { q: withTerm(q, key, value) });
  view.append(
    pageHead(
      'Overview',
      everyone ? 'Everyone’s agents through this bridge' : 'Your agents through this bridge',
      rangePicker(range, (next) => {
        location.hash = href('/overview', next);
      }),
    ),
  );
  const body = h('div', null, loading());
  view.append(body);
  const [days, models, users, toolList] = await Promise.all([
    api('/usage', { params: { q, group_by: 'day' } }),
    api('/usage', { params: { q, group_by: 'model' } }),
    everyone ? api('/usage', { params: { q, group_by: 'initiator' } }) : null,
    api('/tools', { params: { q, limit: 10 } }),
  ]);
  const g = days.groups;
  const requests = total(g, 'interceptions');
  if (!requests) {
    return fill(
      body,
      empty(
        'No requests in this range.',
        h(
          'p',
          { class: 'muted small' },
          'Point Claude Code, Codex or an SDK at the bridge with a bridge token; requests show up here.',
        ),
      ),
    );
  }
  const failed = total(g, 'failed');
  const f = figures(g);
  fill(
    body,
    h(
      'div',
      { class: 'stats' },
      stat('Spend', usd(total(g, 'cost_usd'))),
      stat('Requests', int(requests), h('a', { href: href('/interceptions', { q }) }, 'View all')),
      stat(
        'Tokens',
        short(f.input + f.output),
        h('span', { title: `input: ${inputParts(f)}` }, `${short(f.input)} in · ${short(f.output)} out`),
      ),
      stat(
        'Failure rate',
        pct(failed / requests),
        failed ? h('a', { href: filtered('status', 'failed') }, `${int(failed)} failed`) : 'none failed',
      ),
      stat('Tool calls', int(total(g, 'tool_calls'))),
    ),
    perDay(range, g),
    h(
      'div',
      { class: 'grid' },
      users
        ? leaderboard('Top users', users.groups, (u) => [
            h(
              'a',
              { href: filtered('initiator', u.key.initiator.username ?? u.key.initiator.id) },
              person(u.key.initiator),
            ),
            // Their records stay, under their name: marked, so the leaderboard is not read as a current user's.
            u.key.initiator.deleted ? [' ', badge('deleted')] : null,
          ])
        : null,
      leaderboard('Top models', models.groups, (m) => h('a', { href: filtered('model', m.key.model) }, m.key.model)),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Top tools'),
      h('p', { class: 'hint' }, 'Injected MCP tools the bridge ran and client tools the models called, in this range.'),
      toolsTable(toolList.results, 'Top tools'),
    ),
  );
}
