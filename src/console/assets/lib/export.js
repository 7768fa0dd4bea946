// Exports built in the browser from the API's pages, so they follow the same filter and rights.
import { api } from './api.js';
import { figures } from './format.js';

const PAGE = 1000;
export const EXPORT_CAP = 100_000;

const sum = (key) => (r) => r.token_usages.reduce((n, u) => n + u[key], 0);

/**
 * One row per interception, the same columns as `aibridge interceptions list -o csv`: sums over its
 * upstream calls, input as every prompt token read (`total_input_tokens`) with its parts.
 */
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
  ['total_input_tokens', (r) => figures(r.token_usages).input],
  ['input_tokens', sum('input_tokens')],
  ['cache_read_input_tokens', sum('cache_read_input_tokens')],
  ['cache_write_input_tokens', sum('cache_write_input_tokens')],
  ['output_tokens', sum('output_tokens')],
  ['cost_usd', (r) => r.cost_usd],
  ['tool_calls', (r) => r.tool_usages.length],
  // The tools' names, once each; how many client tools' results came back.
  ['tools', (r) => [...new Set(r.tool_usages.map((t) => t.tool))].join(' ')],
  ['tool_results', (r) => r.tool_usages.filter((t) => t.result_at).length],
  ['repo', (r) => r.work?.repo],
  ['branch', (r) => r.work?.branch],
  ['prompt', (r) => r.user_prompts[0]?.prompt],
];

export const CSV_COLUMNS = COLUMNS.map(([name]) => name);

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
