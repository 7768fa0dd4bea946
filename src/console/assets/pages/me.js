// Me: my budget and usage, my tokens, my MCP credentials, my own provider keys.
import { api } from '../lib/api.js';
import { barChart } from '../lib/chart.js';
import { h } from '../lib/dom.js';
import { day, usd } from '../lib/format.js';
import { daysBetween, rangeQuery, withTerm } from '../lib/query.js';
import { asyncCard, pageHead } from '../lib/ui.js';
import { credentialsPanel, perUserServers, storedCredentials } from '../parts/credentials.js';
import { providerKeysPanel } from '../parts/provider-keys.js';
import { spendCard } from '../parts/spend.js';
import { tokensPanel } from '../parts/tokens.js';

const DAYS = 30;

function usageCard() {
  return asyncCard(`My spend, last ${DAYS} days`, async () => {
    const range = { after: new Date(Date.now() - DAYS * 86_400_000).toISOString(), end: new Date() };
    const q = withTerm(rangeQuery(range), 'initiator', 'me');
    const { groups } = await api('/usage', { params: { q, group_by: 'day' } });
    const slots = daysBetween(range.after, range.end);
    const byDay = new Map(groups.map((g) => [g.key.day, g.cost_usd ?? 0]));
    const series = [slots.map((d) => byDay.get(d) ?? 0)];
    return barChart({ slots, series, format: usd, axis: 'usd', label: day, title: 'My spend per day (UTC)' });
  });
}

/** My teams' budgets: each one my calls must fit too. */
function teamCards() {
  const place = h('div', { class: 'grid' });
  api('/teams')
    .then(({ results: teams }) =>
      place.append(
        ...teams
          .filter((t) => t.budget || t.members)
          .slice(0, 12)
          .map((t) => spendCard(null, { path: `/teams/${encodeURIComponent(t.name)}/spend`, title: `Team ${t.name}` })),
      ),
    )
    .catch(() => {});
  return place;
}

export async function renderMe(view, { user }) {
  view.append(
    pageHead(
      user.name && user.name !== user.username ? user.name : user.username,
      `Signed in as ${user.username} (${user.role})`,
    ),
    h('div', { class: 'grid' }, spendCard('me'), usageCard()),
    user.role === 'member' ? teamCards() : null,
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'My tokens'),
      h(
        'p',
        { class: 'hint' },
        'Give each agent or machine its own token, so you can revoke one without the others. ',
        'Your console sessions are listed too: end one you left signed in elsewhere.',
      ),
      tokensPanel('me'),
    ),
    credentialsCard(),
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'My provider keys'),
      h(
        'p',
        { class: 'hint' },
        'Where a provider takes your own key, the bridge sends it upstream instead of its own.',
      ),
      providerKeysPanel(),
    ),
  );
}

/**
 * My MCP credentials — only on a bridge where some server takes per-user credentials (README
 * "Per-user credentials"), or where I still have some stored: otherwise there is nothing to do.
 */
function credentialsCard() {
  const place = h('div');
  Promise.all([perUserServers(), storedCredentials().catch(() => [])]).then(([servers, stored]) => {
    if (!servers.length && !stored.length) return place.remove();
    place.replaceWith(h('section', { class: 'card' }, h('h2', null, 'My MCP credentials'), credentialsPanel(servers)));
  });
  return place;
}
