// One recorded tool call: what the model asked, what it got back, how long, and whether
// the text was cut (truncated) when recorded.
import { h } from '../lib/dom.js';
import { bytes, duration } from '../lib/format.js';
import { href } from '../lib/router.js';
import { badge } from '../lib/ui.js';

/** Pretty JSON when the text is JSON; otherwise the text as recorded. */
function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** A "truncated" mark naming the original size, for a record's cut field. */
export function cut(record, fieldName) {
  if (!record.truncated) return null;
  const original = record.original_bytes?.[fieldName];
  if (!original && record.original_bytes && Object.keys(record.original_bytes).length) return null;
  return badge(original ? `truncated · ${bytes(original)} originally` : 'truncated', 'warn');
}

export function textBlock(title, text, mark) {
  return h(
    'div',
    { class: 'part' },
    title || mark ? h('h3', null, title, ' ', mark) : null,
    h('pre', { class: 'block' }, text),
  );
}

/** How long a client tool took to come back: from the call's record to the request carrying its result. */
export const resultDelay = (t) => (t.result_at ? Date.parse(t.result_at) - Date.parse(t.created_at) : null);

/** A client tool's state: its result came back (and how), or not yet. */
function clientState(t) {
  if (!t.result_at) return badge('no result yet');
  return t.is_error ? badge('error result', 'bad') : badge('result', 'ok');
}

/** The call and what came of it, side by side: the bridge's output, or the client's result. */
function callAndResult(t) {
  const input = textBlock('Input', pretty(t.input), cut(t, 'input'));
  if (t.injected) {
    const output = t.output !== null && t.output !== undefined ? textBlock('Output', t.output, cut(t, 'output')) : null;
    return h('div', { class: 'pair' }, input, output);
  }
  if (!t.result_at) {
    return [
      input,
      h(
        'p',
        { class: 'hint' },
        'A client tool: the call went back to the client, which ran it itself. No result has come back in a later request.',
      ),
    ];
  }
  const title = [
    'Result',
    h('span', { class: 'muted small' }, ` after ${duration(resultDelay(t))}, in `),
    h('a', { href: href('/interceptions', t.result_interception_id), class: 'small' }, 'the next request'),
  ];
  return h('div', { class: 'pair' }, input, textBlock(title, t.output ?? '', cut(t, 'output')));
}

export function toolCall(t) {
  const failed = Boolean(t.invocation_error);
  return h(
    'article',
    { class: 'tool', 'aria-label': `Tool call ${t.tool}` },
    h(
      'div',
      { class: 'tool-head' },
      h('span', { class: 'name' }, t.tool),
      t.injected ? badge('injected', 'info') : badge('client tool'),
      t.injected ? (failed ? badge('failed', 'bad') : badge('ok', 'ok')) : clientState(t),
      t.duration_ms !== null && t.duration_ms !== undefined
        ? h('span', { class: 'muted small' }, duration(t.duration_ms))
        : null,
      t.server_url
        ? h('span', { class: 'muted small' }, 'on ', h('code', null, t.metadata?.server ?? t.server_url))
        : null,
      h('span', { class: 'muted small mono' }, t.tool_call_id),
    ),
    callAndResult(t),
    failed ? textBlock('Error', t.invocation_error, null) : null,
  );
}
