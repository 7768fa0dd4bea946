// Teams: the list (owners create teams), and one team with its members, spend and budget. A team
// single sign-on manages shows its members read-only: they follow their groups at the provider.
import { api, seg } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { budgetUsd, time } from '../lib/format.js';
import { withTerm } from '../lib/query.js';
import { href } from '../lib/router.js';
import { badge, busy, confirmButton, empty, errorBox, field, loading, notice, pageHead, table } from '../lib/ui.js';
import { spendCard } from '../parts/spend.js';

const budgetText = (b) => (b ? `${budgetUsd(b.usd)} / ${b.period}` : null);
const ssoBadge = (team) => (team.sso ? badge('single sign-on', 'info') : null);

function createForm(onCreated) {
  const status = h('div');
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 256 });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create team');
  const form = h('form', { class: 'form-row' }, field('Name', name), submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, async () => {
      try {
        const team = await api('/teams', { method: 'POST', body: { name: name.value.trim() } });
        fill(status, notice('success', `Created ${team.name}.`));
        form.reset();
        await onCreated();
      } catch (err) {
        fill(status, errorBox(err));
      }
    });
  });
  return h('section', { class: 'card' }, h('h2', null, 'New team'), form, status);
}

export async function renderTeams(view, { user }) {
  const owner = user.role === 'owner';
  const list = h('section', { 'aria-label': 'Teams' }, loading());
  async function refresh() {
    try {
      const { results: teams } = await api('/teams');
      fill(
        list,
        table(
          [
            { label: 'Team', cell: (t) => [h('a', { href: href('/teams', t.name) }, t.name), ' ', ssoBadge(t)] },
            { label: 'Members', num: true, cell: (t) => String(t.members) },
            {
              label: 'Budget',
              cell: (t) => budgetText(t.budget) ?? h('span', { class: 'muted' }, 'team default'),
            },
            { label: 'Created', cell: (t) => time(t.created_at) },
          ],
          teams,
          {
            caption: 'Teams',
            emptyText: owner ? 'No teams yet.' : 'You are in no team.',
          },
        ),
      );
    } catch (err) {
      fill(list, errorBox(err, refresh));
    }
  }
  view.append(
    pageHead('Teams', owner ? 'Shared budgets, auditors’ scopes and single sign-on groups' : 'The teams you can see'),
    owner ? createForm(refresh) : null,
    list,
  );
  await refresh();
}

function budgetForm(team, onSaved) {
  const status = h('div');
  const amount = h('input', {
    type: 'number',
    min: '0.01',
    step: '0.01',
    required: true,
    value: team.budget?.usd ?? '',
  });
  const period = h(
    'select',
    null,
    ['day', 'week', 'month'].map((p) => h('option', { value: p, selected: p === (team.budget?.period ?? 'month') }, p)),
  );
  const save = h('button', { type: 'submit', class: 'primary' }, 'Set budget');
  const clear = h('button', { type: 'button' }, 'Use team default');
  const form = h('form', { class: 'form-row' }, field('USD', amount), field('Per', period), save, clear);
  const describe = () =>
    team.budget
      ? `Shared by every member: ${budgetUsd(team.budget.usd)} per ${team.budget.period}, on top of their own budgets.`
      : 'The configuration’s default for teams applies, if any.';
  const hint = h('p', { class: 'hint' }, describe());
  const apply = (button, budget) =>
    busy(button, async () => {
      try {
        const saved = await api(`/teams/${seg(team.name)}`, { method: 'PATCH', body: { budget } });
        team.budget = saved.budget;
        hint.textContent = describe();
        fill(status, notice('success', `Saved ${team.name}.`));
        onSaved();
      } catch (err) {
        fill(status, errorBox(err));
      }
    });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply(save, { usd: Number(amount.value), period: period.value });
  });
  clear.addEventListener('click', () => apply(clear, null));
  return h('section', { class: 'card' }, h('h2', null, 'Set budget'), hint, form, status);
}

function membersPanel(team, { owner, onChange }) {
  const status = h('div');
  const editable = owner && !team.sso;
  const remove = (m) =>
    confirmButton(
      'Remove',
      `Remove ${m.username} from ${team.name}`,
      {
        title: `Remove ${m.username}?`,
        message: `${m.username} leaves ${team.name}: its budget no longer applies to them.`,
        confirm: 'Remove',
      },
      async () => {
        try {
          await api(`/teams/${seg(team.name)}/members/${seg(m.username)}`, { method: 'DELETE' });
          await onChange();
        } catch (err) {
          fill(status, errorBox(err));
        }
      },
    );
  const rows = table(
    [
      {
        label: 'User',
        cell: (m) => [m.username, m.name && m.name !== m.username ? h('div', { class: 'muted small' }, m.name) : null],
      },
      { label: 'Role', cell: (m) => m.role },
      { label: 'Status', cell: (m) => (m.disabled ? badge('disabled', 'bad') : badge('enabled', 'ok')) },
      ...(editable ? [{ label: 'Actions', cell: remove }] : []),
    ],
    team.member_list,
    { caption: `Members of ${team.name}`, emptyText: 'No members.' },
  );
  let add = null;
  if (editable) {
    const username = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Add member');
    add = h('form', { class: 'form-row' }, field('Username', username), submit);
    add.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(submit, async () => {
        try {
          await api(`/teams/${seg(team.name)}/members/${seg(username.value.trim())}`, { method: 'PUT' });
          await onChange();
        } catch (err) {
          fill(status, errorBox(err));
        }
      });
    });
  }
  return h(
    'section',
    { class: 'card' },
    h('h2', null, `Members of ${team.name}`),
    team.sso
      ? h(
          'p',
          { class: 'hint' },
          'Managed by single sign-on: members follow their groups at the identity provider, at each sign-in.',
        )
      : null,
    rows,
    add,
    status,
  );
}

export async function renderTeam(view, { id, user }) {
  const owner = user.role === 'owner';
  let team;
  try {
    team = await api(`/teams/${seg(id)}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    return view.append(pageHead('Team not found'), empty(`No team “${id}”.`, h('a', { href: '#/teams' }, 'All teams')));
  }
  const spend = h('div');
  const showSpend = () =>
    fill(spend, spendCard(null, { path: `/teams/${seg(team.name)}/spend`, title: 'Team budget' }));
  const body = h('div');
  const render = () => {
    fill(
      body,
      h('div', { class: 'grid' }, spend, owner ? budgetForm(team, showSpend) : null),
      membersPanel(team, {
        owner,
        onChange: async () => {
          team = await api(`/teams/${seg(team.name)}`);
          render();
          showSpend();
        },
      }),
    );
  };
  const remove = owner
    ? confirmButton(
        'Delete team',
        `Delete ${team.name}`,
        {
          title: `Delete ${team.name}?`,
          message: 'Its budget stops applying. Its members and their records stay.',
          confirm: 'Delete team',
        },
        async () => {
          await api(`/teams/${seg(team.name)}`, { method: 'DELETE' });
          location.hash = '#/teams';
        },
      )
    : null;
  view.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/teams' }, '← Teams')),
    pageHead(
      team.name,
      [`${team.members} member${team.members === 1 ? '' : 's'}`, team.sso ? 'managed by single sign-on' : null]
        .filter(Boolean)
        .join(' · '),
      user.role !== 'member'
        ? h(
            'a',
            { class: 'btn', href: href('/interceptions', { q: withTerm('', 'team', team.name) }) },
            'Their interceptions',
          )
        : null,
      remove,
    ),
    body,
  );
  render();
  showSpend();
}
