// One user (owners): budget and its spend, and their tokens.
import { api, seg } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { budgetUsd, time } from '../lib/format.js';
import { withTerm } from '../lib/query.js';
import { href } from '../lib/router.js';
import { badge, busy, empty, field, pageHead } from '../lib/ui.js';
import { spendCard } from '../parts/spend.js';
import { tokensPanel } from '../parts/tokens.js';
import { patchUser } from './users.js';

function budgetForm(u, onSaved) {
  const status = h('div');
  const amount = h('input', { type: 'number', min: '0', step: 'any', required: true, value: u.budget?.usd ?? '' });
  const period = h(
    'select',
    null,
    ['day', 'week', 'month'].map((p) => h('option', { value: p, selected: p === (u.budget?.period ?? 'month') }, p)),
  );
  const save = h('button', { type: 'submit', class: 'primary' }, 'Set budget');
  const clear = h('button', { type: 'button' }, 'Use role default');
  const form = h('form', { class: 'form-row' }, field('USD', amount, '0: no spend'), field('Per', period), save, clear);
  const describe = () => {
    if (!u.budget) return 'The role’s default budget applies.';
    const own = `Own budget: ${budgetUsd(u.budget.usd)} per ${u.budget.period}.`;
    return u.budget.usd === 0 ? `${own} No spend is allowed.` : own;
  };
  const hint = h('p', { class: 'hint' }, describe());
  const apply = (button, budget) =>
    busy(button, async () => {
      const saved = await patchUser(u.username, { budget }, status);
      if (!saved) return;
      u.budget = saved.budget;
      hint.textContent = describe();
      onSaved();
    });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply(save, { usd: Number(amount.value), period: period.value });
  });
  clear.addEventListener('click', () => apply(clear, null));
  return h('section', { class: 'card' }, h('h2', null, 'Set budget'), hint, form, status);
}

export async function renderUser(view, { id }) {
  let u;
  try {
    u = await api(`/users/${seg(id)}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    return view.append(pageHead('User not found'), empty(`No user “${id}”.`, h('a', { href: '#/users' }, 'All users')));
  }
  const spend = h('div');
  const showSpend = () => fill(spend, spendCard(u.username));
  view.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/users' }, '← Users')),
    pageHead(
      u.username,
      [u.name, u.role, u.disabled ? 'disabled' : null].filter(Boolean).join(' · '),
      h(
        'a',
        { class: 'btn', href: href('/interceptions', { q: withTerm('', 'initiator', u.username) }) },
        'Their interceptions',
      ),
    ),
    h('p', { class: 'muted small' }, 'Created ', time(u.created_at), ' ', u.disabled ? badge('disabled', 'bad') : null),
    h('div', { class: 'grid' }, spend, budgetForm(u, showSpend)),
    h(
      'section',
      { class: 'card' },
      h('h2', null, `Tokens of ${u.username}`),
      tokensPanel(u.username, `${u.username}’s`),
    ),
  );
  showSpend();
}
