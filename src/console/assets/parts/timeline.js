// The loop of one interception in time: prompts, each upstream response, tool calls (as
// spans, from their recorded end and duration), thoughts — as a strip and as a list.
import { FONT_PX, responsive, widthOf } from '../lib/chart.js';
import { h, s } from '../lib/dom.js';
import { duration, figures, inOut } from '../lib/format.js';
import { resultDelay } from './tool-call.js';

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
        : t.result_at
          ? `Model called client tool ${t.tool}; its ${t.is_error ? 'error ' : ''}result came back ${duration(resultDelay(t))} later`
          : `Model called client tool ${t.tool} (returned to the client)`,
    });
  }
  for (const th of i.model_thoughts)
    list.push({ lane: 1, start: at(th.created_at), cls: 'ev-thought', text: 'Thought' });
  if (i.ended_at) list.push({ lane: 1, start: at(i.ended_at), cls: 'ev-end', text: `Ended (${i.status})` });
  return list.sort((a, b) => a.start - b.start || rank(a) - rank(b));
}

/**
 * The strip: one lane per kind of step, time across. Its text reads at the chart font size on
 * any screen (the lanes' names set where the lanes start), so a phone shows it whole.
 */
export function timeline(i) {
  const list = events(i);
  const span = Math.max(1, ...list.map((e) => e.end ?? e.start));
  const strip = s('svg', { class: 'chart timeline', role: 'img', 'aria-label': 'Timeline' });
  responsive(strip, W, (unit) => {
    const font = FONT_PX * unit;
    const gap = 8 * unit;
    const rowH = Math.max(22, font * 1.8);
    strip.replaceChildren();
    strip.setAttribute('viewBox', `0 0 ${W} ${LANES.length * rowH + font + gap}`);
    strip.setAttribute('font-size', font);
    const names = LANES.map((name, lane) =>
      s('text', { class: 'lane-name', x: gap / 2, y: lane * rowH + rowH / 2, 'dominant-baseline': 'middle' }, name),
    );
    strip.append(...names);
    const left = Math.ceil(Math.max(...names.map((t) => widthOf(t, font)))) + gap * 1.5;
    const right = W - gap;
    const x = (ms) => left + (Math.max(0, ms) / span) * (right - left);
    strip.append(
      ...LANES.map((_, lane) =>
        s('rect', { class: 'lane', x: left, y: lane * rowH + 3, width: right - left, height: rowH - 6 }),
      ),
      ...list.map((e) =>
        s(
          'rect',
          {
            class: e.cls,
            x: x(e.start) - (e.end === undefined ? 2 * unit : 0),
            y: e.lane * rowH + rowH * 0.2,
            width: e.end === undefined ? 4 * unit : Math.max(3 * unit, x(e.end) - x(e.start)),
            height: rowH * 0.6,
          },
          s('title', null, `+${duration(e.start)} ${e.text}`),
        ),
      ),
      s('text', { class: 'x-label', x: left, y: LANES.length * rowH + font }, '0'),
      s('text', { class: 'x-label', x: right, y: LANES.length * rowH + font, 'text-anchor': 'end' }, duration(span)),
    );
  });
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
