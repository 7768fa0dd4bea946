// The time-range picker: 24 h / 7 d / 30 d presets or a custom span, kept in the route's query.
import { h } from '../lib/dom.js';
import { RANGES } from '../lib/query.js';
import { field } from '../lib/ui.js';

/** datetime-local's value for an ISO time, in local time. */
const local = (iso) => {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** `range` from rangeOf(); `onChange(params)` receives the new route params. */
export function rangePicker(range, onChange) {
  const from = h('input', { type: 'datetime-local', value: local(range.after) });
  const to = h('input', { type: 'datetime-local', value: range.before ? local(range.before) : '' });
  const custom = h(
    'form',
    { class: 'form-row' },
    field('From', from),
    field('To', to, 'Empty: now'),
    h('button', { type: 'submit' }, 'Apply'),
  );
  custom.addEventListener('submit', (event) => {
    event.preventDefault();
    if (from.value) onChange({ from: from.value, to: to.value || undefined });
  });
  const presets = [...Object.keys(RANGES), 'custom'].map((key) => {
    const button = h(
      'button',
      { type: 'button', 'aria-pressed': String(range.key === key) },
      key === 'custom' ? 'Custom' : key,
    );
    button.addEventListener('click', () => {
      if (key !== 'custom') return onChange({ range: key });
      if (!custom.isConnected) picker.append(custom);
      from.focus();
    });
    return button;
  });
  const picker = h(
    'div',
    { class: 'range' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, presets),
    range.key === 'custom' ? custom : null,
  );
  return picker;
}
