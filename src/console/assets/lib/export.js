// Exports built in the browser from the API's pages, so they follow the same filter and rights.
import { api } from './api.js';

const PAGE = 1000;
export const EXPORT_CAP = 100_000;

const COLUMNS = [
  ['id', (r) => r.id],
  ['started_at', (r) => r.started_at],
  ['ended_at', (r) => r.ended_at],
  ['status', (r) => r.status ?? 'running'],
  ['initiator_id', (r) => r.initiator.id],
  ['initiator_username', (r) => r.initiator.username],
  ['provider', (r) => r.provider],
  ['provider_name', (r) => r.provider_name],
  ['model', (r) => r.model],
  ['client', (r) => r.client],
  ['client_session_id', (r) => r.client_session_id],
  ['via', (r) => r.metadata?.via ?? 'direct'],
  ['input_tokens', (r) => r.token_usages.reduce((n, u) => n + u.input_tokens, 0)],
  ['output_tokens', (r) => r.token_usages.reduce((n, u) => n + u.output_tokens, 0)],
  ['cache_read_input_tokens', (r) => r.token_usages.reduce((n, u) => n + u.cache_read_input_tokens, 0)],
  ['cache_write_input_tokens', (r) => r.token_usages.reduce((n, u) => n + u.cache_write_input_tokens, 0)],
  ['cost_usd', (r) => r.cost_usd],
  ['tool_calls', (r) => r.tool_usages.length],
  ['tool_results', (r) => r.tool_usages.filter((t) => t.result_at).length],
  ['repo', (r) => r.work?.repo],
  ['branch', (r) => r.work?.branch],
  ['prompt', (r) => r.user_prompts.at(-1)?.prompt],
];

/** A CSV cell; text a spreadsheet would run as a formula is prefixed with a quote. */
function cell(value) {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const toCsv = (rows) =>
  [COLUMNS.map(([name]) => name).join(','), ...rows.map((r) => COLUMNS.map(([, get]) => cell(get(r))).join(','))]
    .join('\r\n')
    .concat('\r\n');

export const toNdjson = (rows) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

/** Every interception matching `q` (up to the cap), following after_id; `progress(done, total)`. */
export async function fetchAll(q, progress) {
  const rows = [];
  let after;
  for (;;) {
    const page = await api('/interceptions', { params: { q, limit: PAGE, after_id: after } });
    rows.push(...page.results);
    progress(rows.length, page.count);
    if (page.results.length < PAGE || rows.length >= Math.min(page.count, EXPORT_CAP)) return rows;
    after = page.results.at(-1).id;
  }
}

/** Saves text as a file through a temporary object URL. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
