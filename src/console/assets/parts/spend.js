// Spend in the current budget period against the budget, if one applies.
import { api, seg } from '../lib/api.js';
import { meter } from '../lib/chart.js';
import { fill, h } from '../lib/dom.js';
import { date, pct, time, usd } from '../lib/format.js';
import { badge, errorBox, loading } from '../lib/ui.js';

const PERIOD = { day: 'today', week: 'this week', month: 'this month' };

export function spendCard(user) {
  const card = h('section', { class: 'card' }, h('h2', null, 'Budget'), loading());
  api(`/users/${seg(user)}/spend`)
    .then(({ budget, spent_usd, resets_at, period_start }) => {
      const body = budget
        ? [
            h(
              'p',
              { class: 'stat' },
              h('span', { class: 'value' }, usd(spent_usd)),
              h('span', { class: 'muted' }, ` of ${usd(budget.usd)} ${PERIOD[budget.period]}`),
              ' ',
              spent_usd >= budget.usd ? badge('reached', 'bad') : badge(`${pct(spent_usd / budget.usd)} used`, 'info'),
            ),
            meter(spent_usd / budget.usd, `${pct(spent_usd / budget.usd)} of the budget used`),
            h(
              'p',
              { class: 'hint' },
              spent_usd >= budget.usd ? 'Model requests are refused (429) until the budget resets ' : 'Resets ',
              time(resets_at),
              '.',
            ),
          ]
        : [
            h(
              'p',
              { class: 'stat' },
              h('span', { class: 'value' }, usd(spent_usd)),
              h('span', { class: 'muted' }, ` spent since ${date(period_start)}`),
            ),
            h('p', { class: 'hint' }, 'No budget applies.'),
          ];
      fill(card, h('h2', null, 'Budget'), body);
    })
    .catch((err) => fill(card, h('h2', null, 'Budget'), errorBox(err)));
  return card;
}
