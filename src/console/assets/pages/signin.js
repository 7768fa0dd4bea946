// Sign-in: single sign-on when the bridge offers it, or a bridge token exchanged for an HttpOnly
// session cookie; the token itself is never kept by the page (not in storage, not in memory once sent).
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { errorBox, field, notice } from '../lib/ui.js';

/** Why a single sign-on came back refused, by the code the bridge sends (the bridge logs the details). */
const SSO_ERRORS = {
  state_mismatch: 'That sign-in response does not belong to a sign-in started here. Start again.',
  authorization_refused: 'The identity provider did not authorise the sign-in.',
  code_rejected: 'The identity provider refused the sign-in code (it may have been used already). Start again.',
  invalid_id_token: 'The identity provider’s answer failed validation. Ask an owner to check the bridge’s log.',
  not_allowed: 'Your account is not in a group allowed to use this bridge.',
  user_disabled: 'Your bridge account is disabled. Ask an owner.',
  user_deleted: 'Your bridge account was deleted. Ask an owner.',
  last_owner: 'You are the bridge’s last owner and your groups no longer make you one. Make another owner first.',
  provider_unavailable: 'The identity provider cannot be reached right now. Try again shortly.',
  not_configured: 'Single sign-on is not configured on this bridge.',
};

/** The refusal a single sign-on came back with, once: the address is cleaned so a reload does not show it again. */
function ssoError() {
  const params = new URLSearchParams(location.search);
  const code = params.get('sso_error');
  if (!code) return null;
  history.replaceState(null, '', `/${location.hash}`);
  return SSO_ERRORS[code] ?? 'Single sign-on failed. Try again, or ask an owner to check the bridge’s log.';
}

export function renderSignIn(root, message, onSignedIn) {
  document.title = 'Sign in · AI Bridge';
  const refused = ssoError();
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'aib_…',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const problems = h('div');
  const form = h(
    'form',
    { novalidate: true },
    field('Bridge token', input, 'The token you use for Claude Code, Codex or the API.'),
    problems,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      fill(problems, errorBox({ message: 'Enter your bridge token.' }));
      return input.focus();
    }
    submit.disabled = true;
    fill(problems);
    try {
      const user = await api('/session', { method: 'POST', body: { token }, quiet401: true });
      input.value = '';
      onSignedIn(user);
    } catch (err) {
      fill(problems, errorBox(err));
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  const sso = h('div', { class: 'sso' });
  const icon = document.querySelector('link[rel="icon"]').getAttribute('href');
  fill(
    root,
    h(
      'main',
      { class: 'signin', id: 'main', tabindex: '-1' },
      h(
        'div',
        { class: 'card' },
        h('img', { src: icon, alt: '', width: 36, height: 36 }),
        h('h1', null, 'Sign in to AI Bridge'),
        h('p', { class: 'muted' }, 'See what your coding agents do and spend.'),
        refused ? h('div', { class: 'notice error', role: 'alert' }, h('strong', null, refused)) : null,
        message ? notice('', message) : null,
        sso,
        form,
      ),
    ),
  );
  // Offered when the bridge has single sign-on; the token form stays for machines and owners.
  api('/session/sso', { quiet401: true })
    .then(({ enabled, start }) => {
      if (!enabled) return;
      fill(
        sso,
        h('a', { class: 'btn primary sso-start', href: start }, 'Sign in with SSO'),
        h('p', { class: 'or muted' }, 'or with a bridge token'),
      );
    })
    .catch(() => {});
}
