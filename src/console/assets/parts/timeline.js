// The loop of one interception in time: prompts, each upstream response, tool calls (as
// spans, from their recorded end and duration), thoughts — as a strip and as a list.
import { h, s } from '../lib/dom.js';
import { duration, figures, inOut } from '../lib/format.js';

const W = 960;
const LANES = ['Prompt', 'Model', 'Tools'];

/** Order of cause within one instant: a prompt, the response it got, its thoughts, the tools it asked for, the end. */
const RANK = { 'ev-prompt': 0, 'ev-upstream': 1, 'ev-thought': 2, 'ev-tool': 3, 'ev-end': 4 };
const rank = (e) => RANK[e.cls.split(' ')[0]];

export function events(i) {
  const t0 = Date.parse(i.started_at);
  const at = (iso) => Date.parse(iso) - t0;
  const list = [];
  /** When each upstream response was recorded: the calls it asked for cannot have started before. */
  const responded = new Map();
  for (const p of i.user_prompts)
    list.push({ lane: 0, start: at(p.created_at), cls: 'ev-prompt', text: 'Prompt recorded' });
  for (const [n, u] of i.token_usages.entries()) {
    if (u.provider_response_id) responded.set(u.provider_response_id, at(u.created_at));
    list.push({
      lane: 1,
      start: at(u.created_at),
      cls: 'ev-upstream',
      text: `Upstream response ${n + 1}: ${inOut(figures([u]))}`,
    });
  }
  for (const t of i.tool_usages) {
    const end = at(t.created_at);
    const ms = t.duration_ms ?? 0;
    // The bridge records a call's end so that end − duration follows its response; older records may not.
    const start = Math.max(0, end - ms, responded.get(t.provider_response_id) ?? 0);
    list.push({
      lane: 2,
      start,
      end: Math.max(end, start),
      cls: t.invocation_error ? 'ev-tool failed' : 'ev-tool',
      text: t.injected
        ? `Tool ${t.tool} ran for ${duration(ms)}${t.invocation_error ? ' and failed' : ''}`
        : `Model called client tool ${t.tool} (returned to the client)`,
    });
  }
  for (const th of i.model_thoughts)
    list.push({ lane: 1, start: at(th.created_at), cls: 'ev-thought', text: 'Thought' });
  if (i.ended_at) list.push({ lane: 1, start: at(i.ended_at), cls: 'ev-end', text: `Ended (${i.status})` });
  return list.sort((a, b) => a.start - b.start || rank(a) - rank(b));
}

export function timeline(i) {
  const list = events(i);
  const span = Math.max(1, ...list.map((e) => e.end ?? e.start));
  const left = 64;
  const x = (ms) => left + (Math.max(0, ms) / span) * (W - left - 12);
  const rowH = 22;
  const strip = s(
    'svg',
    { class: 'chart timeline', viewBox: `0 0 ${W} ${LANES.length * rowH + 22}`, role: 'img', 'aria-label': 'Timeline' },
    LANES.map((name, lane) => [
      s('rect', { class: 'lane', x: left, y: lane * rowH + 3, width: W - left - 12, height: rowH - 6 }),
      s('text', { x: 0, y: lane * rowH + 15 }, name),
    ]),
    list.map((e) =>
      s(
        'rect',
        {
          class: e.cls,
          x: x(e.start) - (e.end === undefined ? 2 : 0),
          y: e.lane * rowH + 5,
          width: e.end === undefined ? 4 : Math.max(3, x(e.end) - x(e.start)),
          height: rowH - 10,
        },
        s('title', null, `+${duration(e.start)} ${e.text}`),
      ),
    ),
    s('text', { x: left, y: LANES.length * rowH + 16 }, '0'),
    s('text', { x: W - 12, y: LANES.length * rowH + 16, 'text-anchor': 'end' }, duration(span)),
  );
  return [
    strip,
    h(
      'ol',
      { class: 'events' },
      list.map((e) =>
        h('li', null, h('span', { class: 'muted num' }, `+${duration(e.start)}`), h('span', null, e.text)),
      ),
    ),
  ];
}
