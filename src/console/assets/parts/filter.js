// The `q` search box with its keys as chips: a chip inserts `key:` where the cursor is.
import { h } from '../lib/dom.js';
import { KEYS } from '../lib/query.js';
import { uid } from '../lib/ui.js';

const EXAMPLE = 'model:claude-sonnet-4-5 client:"Claude Code" status:failed started_after:2026-01-01T00:00:00Z';

/** `onSearch(q)` runs on Enter or the button; members are not offered `initiator` or `team`. */
export function filterBox(q, onSearch, { everyone }) {
  const id = uid('q');
  const input = h('input', {
    id,
    type: 'search',
    name: 'q',
    value: q,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'key:value …',
    'aria-describedby': `${id}-hint`,
  });
  const form = h(
    'form',
    { role: 'search' },
    h('label', { for: id }, 'Filter'),
    h('div', { class: 'search' }, input, h('button', { type: 'submit', class: 'primary' }, 'Search')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onSearch(input.value.trim());
  });
  const chips = KEYS.filter((key) => everyone || (key !== 'initiator' && key !== 'team')).map((key) => {
    const chip = h('button', { type: 'button', class: 'chip', 'aria-label': `Insert ${key}:` }, `${key}:`);
    chip.addEventListener('click', () => insert(input, `${key}:`));
    return h('li', null, chip);
  });
  return h(
    'div',
    { class: 'card' },
    form,
    h('ul', { class: 'chips', 'aria-label': 'Filter keys' }, chips),
    h(
      'p',
      { class: 'hint', id: `${id}-hint` },
      'Space-separated key:value terms; quotes around values with spaces, e.g. ',
      h('code', null, EXAMPLE),
    ),
  );
}

/** Inserts text at the cursor, with a space before it when needed, and leaves the cursor after it. */
function insert(input, text) {
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? start;
  const before = input.value.slice(0, start);
  const glue = before && !/\s$/.test(before) ? ' ' : '';
  input.value = `${before}${glue}${text}${input.value.slice(end)}`;
  const at = before.length + glue.length + text.length;
  input.focus();
  input.setSelectionRange(at, at);
}
