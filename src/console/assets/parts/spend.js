// Spend in the current budget period against the budget, if one applies.
import { api, seg } from '../lib/api.js';
import { meter } from '../lib/chart.js';
import { h } from '../lib/dom.js';
import { budgetUsd, date, pct, time, usd } from '../lib/format.js';
import { asyncCard, badge } from '../lib/ui.js';

const PERIOD = { day: 'today', week: 'this week', month: 'this month' };

/** A user's budget (`me` or a username), or with `path` another spend (a team's: `/teams/NAME/spend`). */
export function spendCard(user, { path = `/users/${seg(user)}/spend`, title = 'Budget' } = {}) {
  return asyncCard(title, async () => {
    const { budget, spent_usd, resets_at, period_start } = await api(path);
    if (!budget) {
      return [
        h(
          'p',
          { class: 'stat' },
          h('span', { class: 'value' }, usd(spent_usd)),
          h('span', { class: 'muted' }, ` spent since ${date(period_start)}`),
        ),
        h('p', { class: 'hint' }, 'No budget applies.'),
      ];
    }
    // A $0 budget allows no spend: it counts as reached from the start.
    const used = budget.usd > 0 ? spent_usd / budget.usd : 1;
    return [
      h(
        'p',
        { class: 'stat' },
        h('span', { class: 'value' }, usd(spent_usd)),
        h('span', { class: 'muted' }, ` of ${budgetUsd(budget.usd)} ${PERIOD[budget.period]}`),
        ' ',
        used >= 1 ? badge('reached', 'bad') : badge(`${pct(used)} used`, 'info'),
      ),
      meter(used, `${pct(used)} of the budget used`),
      h(
        'p',
        { class: 'hint' },
        used >= 1 ? 'Model requests are refused (429) until the budget resets ' : 'Resets ',
        time(resets_at),
        '.',
      ),
    ];
  });
}
