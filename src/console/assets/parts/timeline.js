// The loop of one interception in time: prompts, each upstream response, tool calls (as
// spans, from their recorded end and duration), thoughts — as a strip and as a list.
import { h, s } from '../lib/dom.js';
import { duration, int } from '../lib/format.js';
import { resultDelay } from './tool-call.js';

const W = 960;
const LANES = ['Prompt', 'Model', 'Tools'];

export function events(i) {
  const t0 = Date.parse(i.started_at);
  const at = (iso) => Date.parse(iso) - t0;
  const list = [];
  for (const p of i.user_prompts)
    list.push({ lane: 0, start: at(p.created_at), cls: 'ev-prompt', text: 'Prompt recorded' });
  for (const [n, u] of i.token_usages.entries()) {
    const input = u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens;
    list.push({
      lane: 1,
      start: at(u.created_at),
      cls: 'ev-upstream',
      text: `Upstream response ${n + 1}: ${int(input)} in, ${int(u.output_tokens)} out`,
    });
  }
  for (const t of i.tool_usages) {
    const end = at(t.created_at);
    const ms = t.duration_ms ?? 0;
    list.push({
      lane: 2,
      start: Math.max(0, end - ms),
      end,
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
  if (i.ended_at) list.push({ lane: 1, start: at(i.ended_at), cls: 'ev-prompt', text: `Ended (${i.status})` });
  return list.sort((a, b) => a.start - b.start);
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
