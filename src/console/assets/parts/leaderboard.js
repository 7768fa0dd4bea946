// "Top N" tables of usage groups: who or what, how much, and a bar for its share of spend.
import { meter } from '../lib/chart.js';
import { h } from '../lib/dom.js';
import { figures, int, usd } from '../lib/format.js';
import { table } from '../lib/ui.js';

/** Input (every prompt token read) and output together. */
const tokensOf = (g) => {
  const f = figures([g]);
  return f.input + f.output;
};

/** `name(group)` renders the first column (usually a link to the matching interceptions). */
export function leaderboard(title, groups, name, limit = 8) {
  const top = groups.slice(0, limit);
  const most = Math.max(...top.map((g) => g.cost_usd ?? 0), 0);
  const mostTokens = Math.max(...top.map(tokensOf), 1);
  return h(
    'section',
    { class: 'card' },
    h('h2', null, title),
    table(
      [
        { label: 'Name', cell: name, cls: 'clip' },
        { label: 'Requests', num: true, cell: (g) => int(g.interceptions) },
        { label: 'Tokens', num: true, cell: (g) => int(tokensOf(g)) },
        { label: 'Spend', num: true, cell: (g) => usd(g.cost_usd) },
        {
          label: 'Share',
          cell: (g) =>
            // Spend when prices are known, tokens otherwise (unpriced models still show their weight).
            most > 0
              ? meter((g.cost_usd ?? 0) / most, 'share of spend')
              : meter(tokensOf(g) / mostTokens, 'share of tokens'),
        },
      ],
      top,
      { caption: title, emptyText: 'No requests in this range.' },
    ),
    groups.length > limit ? h('p', { class: 'hint' }, `and ${groups.length - limit} more`) : null,
  );
}
