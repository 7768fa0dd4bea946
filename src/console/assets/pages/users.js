// Users (owners): create (the first token is shown once), role, disable/enable, delete; each
// user's page has their budget and tokens.
import { api, seg } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { budgetUsd, time } from '../lib/format.js';
import { href } from '../lib/router.js';
import {
  badge,
  busy,
  confirmButton,
  errorBox,
  field,
  loading,
  notice,
  pageHead,
  secretOnce,
  table,
} from '../lib/ui.js';

export const ROLES = ['owner', 'auditor', 'member'];

/** Applies a change to a user; shows the outcome (the API refuses leaving no enabled owner). */
export async function patchUser(username, body, status) {
  try {
    const user = await api(`/users/${seg(username)}`, { method: 'PATCH', body });
    fill(status, notice('success', `Saved ${username}.`));
    return user;
  } catch (err) {
    fill(status, errorBox(err));
    return null;
  }
}

function createForm(onCreated) {
  // Its own place: the token must stay visible while the owner goes on changing other users.
  const status = h('div');
  const username = h('input', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const role = h(
    'select',
    null,
    ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, r)),
  );
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create user');
  const form = h(
    'form',
    { class: 'form-row' },
    field('Username', username),
    field('Name', name),
    field('Role', role),
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, async () => {
      try {
        const made = await api('/users', {
          method: 'POST',
          body: { username: username.value.trim(), name: name.value.trim() || undefined, role: role.value },
        });
        fill(status, secretOnce(`First token for ${made.user.username}`, made.token));
        form.reset();
        await onCreated();
      } catch (err) {
        fill(status, errorBox(err));
      }
    });
  });
  return h('section', { class: 'card' }, h('h2', null, 'New user'), form, status);
}

export async function renderUsers(view, { user: me }) {
  const status = h('div');
  const list = h('section', { 'aria-label': 'Users' }, loading());

  function roleSelect(u) {
    const select = h(
      'select',
      { 'aria-label': `Role of ${u.username}` },
      ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)),
    );
    select.addEventListener('change', async () => {
      const saved = await patchUser(u.username, { role: select.value }, status);
      if (!saved) select.value = u.role;
      else u.role = saved.role;
    });
    return select;
  }

  function actions(u) {
    const toggle = h(
      'button',
      { type: 'button', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.username}` },
      u.disabled ? 'Enable' : 'Disable',
    );
    toggle.addEventListener('click', () =>
      busy(toggle, async () => {
        if ((await patchUser(u.username, { disabled: !u.disabled }, status)) !== null) await refresh();
      }),
    );
    const remove = confirmButton(
      'Delete',
      `Delete ${u.username}`,
      {
        title: `Delete ${u.username}?`,
        message: 'Their tokens stop working at once. Their recorded interceptions stay.',
        confirm: 'Delete user',
      },
      async () => {
        try {
          await api(`/users/${seg(u.username)}`, { method: 'DELETE' });
          fill(status, notice('success', `Deleted ${u.username}.`));
          await refresh();
        } catch (err) {
          fill(status, errorBox(err));
        }
      },
    );
    return h(
      'div',
      { class: 'actions' },
      h('a', { class: 'btn', href: href('/users', u.username) }, 'Tokens & budget'),
      toggle,
      remove,
    );
  }

  async function refresh() {
    try {
      const { results: users } = await api('/users');
      fill(
        list,
        table(
          [
            {
              label: 'User',
              cell: (u) => [
                h('a', { href: href('/users', u.username) }, u.username),
                u.id === me.id ? h('span', { class: 'muted small' }, ' (you)') : null,
                u.name && u.name !== u.username ? h('div', { class: 'muted small' }, u.name) : null,
              ],
            },
            { label: 'Role', cell: roleSelect },
            { label: 'Status', cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('enabled', 'ok')) },
            {
              label: 'Teams',
              cell: (u) => [
                (u.teams ?? []).join(', ') || h('span', { class: 'muted' }, 'none'),
                u.audit_teams?.length ? h('div', { class: 'muted small' }, `audits ${u.audit_teams.join(', ')}`) : null,
                u.sso ? h('div', { class: 'muted small' }, 'single sign-on') : null,
              ],
            },
            {
              label: 'Budget',
              cell: (u) =>
                u.budget
                  ? `${budgetUsd(u.budget.usd)} / ${u.budget.period}`
                  : h('span', { class: 'muted' }, 'role default'),
            },
            { label: 'Created', cell: (u) => time(u.created_at) },
            { label: 'Actions', cell: actions },
          ],
          users,
          { caption: 'Users' },
        ),
      );
    } catch (err) {
      fill(list, errorBox(err, refresh));
    }
  }

  view.append(pageHead('Users', 'Who may use the bridge, with which role'), status, createForm(refresh), list);
  await refresh();
}
