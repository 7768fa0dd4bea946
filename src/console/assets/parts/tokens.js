// A user's bridge tokens and console sessions: list, issue (shown once), revoke or end. Used on
// "Me" and by owners on "Users".
import { api, seg } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { time } from '../lib/format.js';
import { badge, busy, confirmButton, errorBox, field, loading, secretOnce, table } from '../lib/ui.js';

const EXPIRIES = [
  ['', 'Never'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['365d', '1 year'],
];

function state(t) {
  if (t.revoked_at) return badge('revoked', 'bad');
  if (t.expires_at && Date.parse(t.expires_at) <= Date.now()) return badge('expired', 'warn');
  return badge('active', 'ok');
}

const isSession = (t) => t.kind === 'console';

function kind(t) {
  if (!isSession(t)) return 'token';
  return t.current ? ['console session ', badge('this browser')] : 'console session';
}

/** `user` is `me` or a username; `label` names whose tokens these are (for buttons' accessible names). */
export function tokensPanel(user, label = 'your') {
  const base = `/users/${seg(user)}/tokens`;
  const shown = h('div');
  const list = h('div', null, loading());
  const name = h('input', { type: 'text', maxlength: 100, placeholder: 'laptop, CI, …' });
  const expires = h(
    'select',
    null,
    EXPIRIES.map(([value, text]) => h('option', { value }, text)),
  );
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create token');
  const form = h('form', { class: 'form-row' }, field('Name', name), field('Expires', expires), create);

  async function refresh() {
    try {
      const { results: tokens } = await api(base);
      // Active first, then newest.
      tokens.sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at) || b.created_at.localeCompare(a.created_at));
      fill(
        list,
        table(
          [
            { label: 'Name', cell: (t) => t.name || h('span', { class: 'muted' }, 'unnamed') },
            { label: 'Kind', cell: kind },
            { label: 'Created', cell: (t) => time(t.created_at) },
            { label: 'Last used', cell: (t) => (t.last_used_at ? time(t.last_used_at) : 'never') },
            { label: 'Expires', cell: (t) => (t.expires_at ? time(t.expires_at) : 'never') },
            { label: 'Status', cell: state },
            { label: 'Id', cls: 'clip', cell: (t) => h('code', { class: 'small' }, t.id) },
            { label: 'Actions', cell: (t) => (t.revoked_at ? null : isSession(t) ? endButton(t) : revokeButton(t)) },
          ],
          tokens,
          { caption: `${label} tokens`, emptyText: 'No tokens.' },
        ),
      );
    } catch (err) {
      fill(list, errorBox(err, refresh));
    }
  }

  // Ending this browser's own session signs it out: the next request answers 401 and the sign-in page shows.
  const revoke = (t) => async () => {
    try {
      await api(`${base}/${seg(t.id)}`, { method: 'DELETE' });
      fill(shown);
      await refresh();
    } catch (err) {
      fill(shown, errorBox(err));
    }
  };

  const revokeButton = (t) =>
    confirmButton(
      'Revoke',
      `Revoke token ${t.name || t.id}`,
      {
        title: 'Revoke this token?',
        message: `Agents using “${t.name || t.id}” get 401 from now on. This cannot be undone.`,
        confirm: 'Revoke',
      },
      revoke(t),
    );

  const endButton = (t) =>
    confirmButton(
      'End',
      `End console session ${t.id}`,
      {
        title: 'End this console session?',
        message: t.current
          ? 'This browser is signed out at once.'
          : 'The browser signed in with it is signed out at once.',
        confirm: 'End session',
      },
      revoke(t),
    );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(create, async () => {
      try {
        const made = await api(base, {
          method: 'POST',
          body: { name: name.value.trim() || undefined, expires: expires.value || undefined },
        });
        fill(shown, secretOnce(`New token “${made.name || made.id}”`, made.token));
        name.value = '';
        await refresh();
      } catch (err) {
        fill(shown, errorBox(err));
      }
    });
  });
  refresh();
  return h('div', null, form, shown, list);
}
