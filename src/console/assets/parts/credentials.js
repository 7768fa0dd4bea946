// My MCP credentials: the headers the bridge sends, as me, to per-user MCP servers. Values are
// write-only: the API lists header names, never values.
import { api } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { time } from '../lib/format.js';
import { busy, confirmButton, errorBox, field, loading, notice, table } from '../lib/ui.js';

const BASE = '/users/me/mcp-credentials';

/** Per-user servers as /readyz lists them (the API has no list of configured servers). */
export async function perUserServers() {
  try {
    const res = await fetch('/readyz', { credentials: 'same-origin' });
    const body = await res.json();
    return Object.entries(body.mcp_servers ?? {})
      .filter(([, s]) => s.per_user)
      .map(([name]) => name)
      .sort();
  } catch {
    return [];
  }
}

/** "Name: value" per line → { Name: value }; throws naming the first bad line. */
export function parseHeaders(text) {
  const headers = {};
  text.split('\n').forEach((line, n) => {
    if (!line.trim()) return;
    const at = line.indexOf(':');
    if (at <= 0 || !line.slice(at + 1).trim()) throw new Error(`line ${n + 1}: write it as "Name: value"`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  if (!Object.keys(headers).length) throw new Error('give at least one header');
  return headers;
}

/** My stored credentials (header names only). */
export const storedCredentials = async () => (await api(BASE)).results;

/**
 * The list of my credentials, and the form to store them when `servers` (the per-user servers)
 * has any: with none, there is nothing to store headers for.
 */
export function credentialsPanel(servers) {
  const status = h('div');
  const list = h('div', null, loading());
  const server = h('input', { type: 'text', required: true, autocomplete: 'off', list: 'per-user-servers' });
  const options = h('datalist', { id: 'per-user-servers' });
  const headers = h('textarea', { rows: 3, spellcheck: 'false', placeholder: 'Authorization: Bearer …' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save headers');
  const form = h(
    'form',
    null,
    h(
      'div',
      { class: 'form-row' },
      field('Server', server, 'A configured server that takes per-user credentials'),
      options,
    ),
    field('Headers', headers, 'One "Name: value" per line; they replace any stored for this server.'),
    h('p', null, save),
  );

  async function refresh() {
    try {
      const { results: credentials } = await api(BASE);
      fill(
        list,
        table(
          [
            { label: 'Server', cell: (c) => h('code', null, c.server) },
            { label: 'Headers', cell: (c) => c.headers.join(', ') },
            { label: 'Updated', cell: (c) => time(c.updated_at) },
            { label: 'Actions', cell: removeButton },
          ],
          credentials,
          { caption: 'MCP credentials', emptyText: 'No MCP credentials stored.' },
        ),
      );
    } catch (err) {
      fill(list, errorBox(err, refresh));
    }
  }

  const removeButton = (c) =>
    confirmButton(
      'Delete',
      `Delete credentials for ${c.server}`,
      {
        title: `Delete credentials for ${c.server}?`,
        message: 'Its tools are no longer given to your agents until you add them again.',
        confirm: 'Delete',
      },
      async () => {
        try {
          await api(`${BASE}/${encodeURIComponent(c.server)}`, { method: 'DELETE' });
          fill(status, notice('success', `Deleted credentials for ${c.server}.`));
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
        const body = { headers: parseHeaders(headers.value) };
        await api(`${BASE}/${encodeURIComponent(server.value.trim())}`, { method: 'PUT', body });
        fill(status, notice('success', `Saved headers for ${server.value.trim()}.`));
        headers.value = '';
        await refresh();
      } catch (err) {
        fill(status, errorBox(err));
      }
    });
  });
  fill(
    options,
    servers.map((name) => h('option', { value: name })),
  );
  refresh();
  if (!servers.length) {
    const none = h(
      'p',
      { class: 'hint' },
      'No MCP server takes per-user credentials now; these stay until you delete them.',
    );
    return h('div', null, none, status, list);
  }
  return h('div', null, form, status, list);
}
