// A list shown a page at a time, with Newer / Older buttons that keep keyboard focus.
import { fill, h } from '../lib/dom.js';
import { int } from '../lib/format.js';
import { errorBox, loading } from '../lib/ui.js';

/**
 * `load(n)` fetches page n (from 0) as { rows, more, total? }; `render(rows)` draws it into
 * `into`. Resolves once the first page is shown.
 */
export function paged(into, size, load, render) {
  let index = 0;
  async function show(focus) {
    fill(into, loading());
    let page;
    try {
      page = await load(index);
    } catch (err) {
      return fill(into, errorBox(err));
    }
    const step = (label, disabled, delta) => {
      const button = h('button', { type: 'button', disabled }, label);
      button.addEventListener('click', () => {
        index += delta;
        show(delta);
      });
      return button;
    };
    const newer = step('← Newer', index === 0, -1);
    const older = step('Older →', !page.more, 1);
    const first = index * size;
    const shown = page.rows.length ? `${int(first + 1)}–${int(first + page.rows.length)}` : '';
    const of = page.total === undefined ? '' : ` of ${int(page.total)}`;
    fill(
      into,
      render(page.rows),
      h(
        'div',
        { class: 'pager' },
        h('span', { class: 'muted small' }, shown && shown + of),
        h('div', { class: 'actions' }, newer, older),
      ),
    );
    // Keep keyboard users on the pager (a disabled button cannot hold focus: take the other one).
    if (focus) {
      const [used, other] = focus > 0 ? [older, newer] : [newer, older];
      (used.disabled ? other : used).focus();
    }
  }
  return show(0);
}
