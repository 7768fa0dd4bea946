// Shared pieces of every page: headings, states (loading, empty, error), tables, badges, dialogs.
import { fill, h } from './dom.js';

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

export function pageHead(title, subtitle, ...actions) {
  document.title = `${title} · AI Bridge`;
  return h(
    'div',
    { class: 'page-head' },
    h('div', null, h('h1', { tabindex: '-1' }, title), subtitle ? h('p', { class: 'muted' }, subtitle) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null,
  );
}

export const loading = (what = 'Loading…') => h('p', { class: 'loading', role: 'status' }, what);
export const empty = (text, ...more) => h('div', { class: 'empty' }, h('p', null, text), more);

/** An API error as the API words it: message, detail, and each validation by field. */
export function errorBox(err, retry) {
  return h(
    'div',
    { class: 'notice error', role: 'alert' },
    h('strong', null, err?.message ?? String(err)),
    err?.detail ? h('p', null, err.detail) : null,
    err?.validations?.length
      ? h(
          'ul',
          null,
          err.validations.map((v) => h('li', null, h('code', null, v.field), ` ${v.detail}`)),
        )
      : null,
    retry ? h('p', null, h('button', { type: 'button', onclick: retry }, 'Retry')) : null,
  );
}

export const notice = (tone, ...children) => h('div', { class: `notice ${tone}`, role: 'status' }, children);

export const badge = (text, tone = '', title = undefined) => h('span', { class: `badge ${tone}`, title }, text);

export function statusBadge(status) {
  if (status === 'completed') return badge('completed', 'ok');
  if (status === 'failed') return badge('failed', 'bad');
  return badge('running', 'warn');
}

/**
 * A table in a horizontally scrolling frame (narrow screens). Columns: { label, num, cell(row) }.
 */
export function table(columns, rows, { caption, emptyText = 'Nothing here yet.' } = {}) {
  if (!rows.length) return empty(emptyText);
  const wrap = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((row) =>
          h(
            'tr',
            null,
            columns.map((c) => h('td', { class: [c.num ? 'num' : '', c.cls ?? ''].join(' ').trim() }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
  return h('div', { class: 'table-frame' }, wrap, scrollHint(wrap, caption));
}

/**
 * While a table is wider than its frame: marked (a shadow on the side with more, in CSS), a
 * hint under it, and focusable as a named region, so the keyboard can scroll it too.
 */
function scrollHint(wrap, caption) {
  const hint = h('p', { class: 'scroll-hint', hidden: true, 'aria-hidden': 'true' }, 'Scroll sideways for more →');
  const check = () => {
    const wide = wrap.scrollWidth > wrap.clientWidth + 1;
    if (wide === wrap.classList.contains('scrolls')) return;
    wrap.classList.toggle('scrolls', wide);
    hint.hidden = !wide;
    if (wide) {
      wrap.tabIndex = 0;
      wrap.setAttribute('role', 'region');
      wrap.setAttribute('aria-label', `${caption ?? 'Table'}, scrolls sideways`);
    } else {
      for (const name of ['tabindex', 'role', 'aria-label']) wrap.removeAttribute(name);
    }
  };
  const observer = new ResizeObserver(check);
  observer.observe(wrap);
  observer.observe(wrap.firstElementChild);
  return hint;
}

/** A labelled control: the label names the input for screen readers and clicks. */
export function field(label, control, hint) {
  control.id ||= uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** Runs an action with its button disabled, so a double click does not do it twice. */
export async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

/** A modal yes/no question (a real <dialog>: focus stays inside, Escape cancels). */
export function confirmDialog({ title, message, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', value: 'yes', class: danger ? 'danger solid' : 'primary' }, confirm);
    const dialog = h(
      'dialog',
      { 'aria-labelledby': uid('dlg') },
      h(
        'form',
        { method: 'dialog' },
        h('h2', null, title),
        h('p', { class: 'text' }, message),
        h('div', { class: 'actions' }, h('button', { type: 'submit', value: 'no' }, 'Cancel'), yes),
      ),
    );
    dialog.querySelector('h2').id = dialog.getAttribute('aria-labelledby');
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

/** A secret shown this once (new tokens), with a copy button. */
export function secretOnce(title, secret) {
  const code = h('code', { class: 'mono', tabindex: '0' }, secret);
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copy.textContent = 'Copied';
    } catch {
      getSelection().selectAllChildren(code); // no clipboard over plain HTTP: select it for Ctrl+C
    }
  });
  return notice(
    'success',
    h('strong', null, title),
    h('p', null, 'Copy it now: it is shown only this once and cannot be recovered.'),
    h('div', { class: 'secret' }, code, copy),
  );
}

/** A danger button that asks first (a modal), then runs `work`; cancelling returns focus to it. */
export function confirmButton(label, ariaLabel, question, work) {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': ariaLabel }, label);
  button.addEventListener('click', async () => {
    if (!(await confirmDialog({ ...question, danger: true }))) return button.focus();
    await busy(button, work);
  });
  return button;
}

/** A card whose body arrives later: a loading state, then the body or the error. */
export function asyncCard(title, load) {
  const card = h('section', { class: 'card' }, h('h2', null, title), loading());
  load().then(
    (body) => fill(card, h('h2', null, title), body),
    (err) => fill(card, h('h2', null, title), errorBox(err)),
  );
  return card;
}
