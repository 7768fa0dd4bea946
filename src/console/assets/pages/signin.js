// Sign-in: a bridge token is exchanged for an HttpOnly session cookie; the token itself is
// never kept by the page (not in storage, not in memory once sent).
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { errorBox, field, notice } from '../lib/ui.js';

export function renderSignIn(root, message, onSignedIn) {
  document.title = 'Sign in · AI Bridge';
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
        message ? notice('', message) : null,
        form,
      ),
    ),
  );
}
