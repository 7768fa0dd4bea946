// Numbers, money and times as people read them; the exact value stays available on hover.
import { h } from './dom.js';

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayLabel = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export const int = (n) => integer.format(n ?? 0);
export const short = (n) => compact.format(n ?? 0);
export const pct = (ratio) => percent.format(ratio);

/** USD: 2 decimals from a dollar up, up to 4 below; null (no price known) is not zero. */
export function usd(value) {
  if (value === null || value === undefined) return '—';
  if (value === 0) return '$0.00';
  if (value < 0.0001) return '<$0.0001';
  const digits = value >= 1 ? 2 : 4;
  return `$${value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: digits })}`;
}

/**
 * A budget's figure, as the bridge prints it elsewhere (the CLI, a budget refusal): cents, or
 * every digit when cents would round it — a budget of $0.00001 is not "$0.00".
 */
export function budgetUsd(value) {
  const cents = value.toFixed(2);
  if (Math.abs(Number(cents) - value) <= 1e-9) {
    return `$${value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `$${value.toFixed(9).replace(/0+$/, '')}`;
}

/** A cost cell's text with a reason when it is unknown. */
export const cost = (value) =>
  value === null || value === undefined ? h('span', { title: 'no price known for this model' }, '—') : usd(value);

const UNITS = [
  ['year', 31_536_000],
  ['month', 2_592_000],
  ['week', 604_800],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

export function ago(iso, now = Date.now()) {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Math.abs(seconds) < 45) return seconds <= 0 ? 'just now' : 'in a moment';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return relative.format(Math.round(seconds / size), unit);
  }
}

export const when = (iso) => (iso ? absolute.format(new Date(iso)) : '—');
export const date = (iso) => dateOnly.format(new Date(iso));
export const clockTime = (iso) => clock.format(new Date(iso));
export const day = (yyyyMmDd) => dayLabel.format(new Date(`${yyyyMmDd}T00:00:00Z`));

/** A <time>: relative, the absolute time on hover. */
export const time = (iso) => (iso ? h('time', { datetime: iso, title: when(iso) }, ago(iso)) : '—');

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const seconds = Math.round(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Sizes of cut fields. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * "Input", defined once (README "Token figures"): every prompt token the model read — the
 * uncached input plus cache reads plus cache writes (the API's `total_input_tokens`). `uncached`
 * is the recorded `input_tokens`. Every page shows input this way, with the parts beside it.
 */
export function figures(counts) {
  const f = { input: 0, uncached: 0, cacheRead: 0, cacheWrite: 0, output: 0 };
  for (const c of counts) {
    f.uncached += c.input_tokens ?? 0;
    f.cacheRead += c.cache_read_input_tokens ?? 0;
    f.cacheWrite += c.cache_write_input_tokens ?? 0;
    f.output += c.output_tokens ?? 0;
  }
  f.input = f.uncached + f.cacheRead + f.cacheWrite;
  return f;
}

/** An interception's tokens summed over its upstream calls. */
export const tokens = (interception) => figures(interception.token_usages ?? []);

/** "270 in · 40 out". */
export const inOut = (f) => `${int(f.input)} in · ${int(f.output)} out`;

/** How input splits: "100 uncached · 120 cache read · 50 cache write". */
export const inputParts = (f) =>
  `${int(f.uncached)} uncached · ${int(f.cacheRead)} cache read · ${int(f.cacheWrite)} cache write`;

/** A session's span, as the sessions API gives it: from its first turn's start to its latest turn's end (its start while it runs). */
export const sessionSpan = (s) => Date.parse(s.last_ended_at ?? s.last_started_at) - Date.parse(s.first_started_at);
/** How an interception reached the bridge: its own routes, or the intercepting proxy (README "Clients that cannot set a base URL"). */
export const via = (interception) =>
  interception.metadata?.via === 'proxy'
    ? `intercepting proxy (${interception.metadata.proxy_host ?? 'unknown host'})`
    : 'direct';

/** Who someone is, as the API names them (a deleted user may have no username). */
export const person = (initiator) => initiator?.username ?? initiator?.name ?? initiator?.id ?? '—';
