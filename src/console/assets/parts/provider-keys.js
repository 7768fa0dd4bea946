// My provider keys: my own key for each provider that takes one (byok). Keys are write-only:
// the API says whether one is stored, never what it is.
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { time } from '../lib/format.js';
import { badge, busy, confirmButton, errorBox, field, loading, notice, table } from '../lib/ui.js';

const BASE = '/users/me/provider-keys';

export function providerKeysPanel() {
  const status = h('div');
  const list = h('div', null, loading());
  const provider = h('select', { required: true });
  const key = h('input', { type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save key');
  const form = h(
    'form',
    null,
    h(
      'div',
      { class: 'form-row' },
      field('Provider', provider, 'A provider that takes your own key'),
      field('Key', key, 'It replaces any key stored for this provider, and is never shown again.'),
    ),
    h('p', null, save),
  );

  async function refresh() {
    try {
      const { results: providers } = await api(BASE);
      fill(
        provider,
        providers.map((p) => h('option', { value: p.provider }, p.provider)),
      );
      form.hidden = providers.length === 0;
      fill(
        list,
        table(
          [
            { label: 'Provider', cell: (p) => h('code', null, p.provider) },
            { label: 'Your key', cell: (p) => (p.byok === 'required' ? 'required' : 'optional') },
            {
              label: 'Stored',
              cell: (p) => (p.stored ? badge(`since ${time(p.updated_at)}`, 'ok') : badge('none')),
            },
            { label: 'Actions', cell: (p) => (p.stored ? removeButton(p) : '') },
          ],
          providers,
          { caption: 'Provider keys', emptyText: 'No provider of this bridge takes your own key.' },
        ),
      );
    } catch (err) {
      fill(list, errorBox(err, refresh));
    }
  }

  const removeButton = (p) =>
    confirmButton(
      'Delete',
      `Delete your key for ${p.provider}`,
      {
        title: `Delete your key for ${p.provider}?`,
        message:
          p.byok === 'required'
            ? 'Your requests to this provider are refused until you store a key again.'
            : "Your requests to this provider use the bridge's shared key again.",
        confirm: 'Delete',
      },
      async () => {
        try {
          await api(`${BASE}/${encodeURIComponent(p.provider)}`, { method: 'DELETE' });
          fill(status, notice('success', `Deleted your key for ${p.provider}.`));
          await refresh();
        } catch (err) {
          fill(status, errorBox(err));
        }
      },
    );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      try {
        await api(`${BASE}/${encodeURIComponent(provider.value)}`, { method: 'PUT', body: { key: key.value } });
        fill(status, notice('success', `Saved your key for ${provider.value}.`));
        key.value = '';
        await refresh();
      } catch (err) {
        fill(status, errorBox(err));
      }
    });
  });
  refresh();
  return h('div', null, form, status, list);
}
