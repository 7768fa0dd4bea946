// Small SVG charts: bars per day (optionally two stacked series) and a one-line meter.
//
// A chart's text is laid out for the width it is shown at: the SVG scales with its card, so
// its labels get a font size that reads as FONT_PX on screen, the axis makes room for its
// widest label, and the x axis shows only as many labels as fit side by side (a phone shows
// fewer). Sizes are measured, not guessed, each time the chart's width changes.
import { s } from './dom.js';

const W = 640;
const H = 200;
/** What axis text should measure on screen, in CSS pixels. */
export const FONT_PX = 12;
const GAP = 8;

/**
 * "Nice" y-axis ticks from 0 up to at least `max`: steps of 1, 2, 2.5 or 5 × 10ⁿ (at least
 * `minStep`: 1 for counts), about `count` of them; never two the same.
 */
export function niceTicks(max, count = 4, minStep = 0) {
  if (!(max > 0)) return [0, Math.max(1, minStep)];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(minStep, [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) * magnitude);
  const ticks = [];
  for (let i = 0; ticks.length === 0 || ticks.at(-1) < max - step * 1e-9; i++) ticks.push(round(i * step, step));
  return ticks;
}

/** A tick value without float noise (0.30000000000000004 is 0.3 at a step of 0.1). */
const round = (value, step) => Number(value.toFixed(decimalsOf(step)));

/** The decimals a step is written with: 0.00005 → 5, 0.25 → 2, 2.5 → 1, 500 → 0. */
export function decimalsOf(step) {
  let digits = Math.max(0, -Math.floor(Math.log10(step)));
  while (digits < 12 && Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6) digits++;
  return digits;
}

/** Dollars on an axis: as many decimals as the step needs, so no two ticks read the same ($0.00005, $0.0001…). */
export function usdTick(value, step) {
  if (value === 0) return '$0';
  const digits = Math.min(9, Math.max(step >= 1 ? 0 : 2, decimalsOf(step)));
  return `$${value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

/**
 * Counts on an axis (0.5K, 1K, 1.5K; 2M): as many decimals as the step needs in the unit of
 * the largest tick, so every tick reads as its value and no two read the same.
 */
export function countTicks(ticks) {
  const step = ticks[1] - ticks[0];
  const unit = 1000 ** Math.max(0, Math.floor(Math.log10(Math.max(1, ticks.at(-1))) / 3));
  const digits = Math.min(3, decimalsOf(step / unit));
  const format = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: digits });
  return ticks.map((t) => format.format(t));
}

/** Labels for ticks: distinct, whatever the formatter. */
export function tickLabels(ticks, kind) {
  const step = ticks[1] - ticks[0];
  return kind === 'usd' ? ticks.map((t) => usdTick(t, step)) : countTicks(ticks);
}

/**
 * Which of `count` slots `step` user units apart get an x label `width` wide: every n-th, the
 * smallest n that leaves GAP between neighbours.
 */
export function labelEvery(count, step, width, gap = GAP) {
  if (count <= 1) return 1;
  return Math.max(1, Math.ceil((width + gap) / step));
}

/**
 * Lays a chart out now and again whenever its width changes: `draw(unit)` gets the user units
 * one screen pixel spans at the current width.
 */
export function responsive(svg, viewWidth, draw) {
  let shown = 0;
  const redraw = (px) => {
    if (!px || Math.abs(px - shown) < 1) return;
    shown = px;
    draw(viewWidth / px);
  };
  draw(1);
  new ResizeObserver((entries) => redraw(entries[0].contentRect.width)).observe(svg);
  return svg;
}

/** A text's width in user units once it is rendered; before, an estimate. */
export function widthOf(text, fontUnits) {
  const measured = text.isConnected ? text.getComputedTextLength() : 0;
  return measured || text.textContent.length * fontUnits * 0.6;
}

/**
 * Bars over labelled slots. `series` is one or two arrays of numbers (stacked); `format` writes
 * hover values, `axis` says how the y axis reads (`usd` or `count`); `label` writes a slot's name.
 */
export function barChart({ slots, series, format, label, title, names = [], axis = 'count' }) {
  const totals = slots.map((_, i) => series.reduce((sum, values) => sum + (values[i] ?? 0), 0));
  const ticks = niceTicks(Math.max(...totals, 0), 4, axis === 'count' ? 1 : 0);
  const top = ticks.at(-1);
  const yLabels = tickLabels(ticks, axis);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  responsive(svg, W, (unit) => {
    const font = FONT_PX * unit;
    const gap = GAP * unit;
    svg.replaceChildren(s('title', null, title));
    svg.setAttribute('font-size', font);
    // Room above the top tick for the upper half of its label, below the plot for the x labels.
    const head = Math.max(gap, font * 0.6 + unit * 2);
    const bottom = H - font * 1.25 - gap;
    const y = (v) => head + (bottom - head) * (1 - v / top);
    // The y axis first: its widest label decides where the plot starts.
    const yTexts = ticks.map((t, i) =>
      s('text', { class: 'y-label', x: 0, y: y(t), 'dominant-baseline': 'middle', 'text-anchor': 'end' }, yLabels[i]),
    );
    svg.append(...yTexts);
    const left = Math.ceil(Math.max(...yTexts.map((t) => widthOf(t, font)))) + gap;
    for (const t of yTexts) t.setAttribute('x', left - gap / 2);
    svg.append(...ticks.map((t) => s('line', { class: 'axis', x1: left, x2: W, y1: y(t), y2: y(t) })));

    const step = (W - left) / Math.max(slots.length, 1);
    const barW = Math.max(2, Math.min(step * 0.7, 40));
    const xTexts = slots.map((slot) =>
      s(
        'text',
        { class: 'x-label', y: H - unit, 'text-anchor': 'middle', 'dominant-baseline': 'text-after-edge' },
        label(slot),
      ),
    );
    svg.append(...xTexts);
    const widest = Math.max(0, ...xTexts.map((t) => widthOf(t, font)));
    const every = labelEvery(slots.length, step, widest, gap);
    const centre = (i) => left + i * step + step / 2;
    slots.forEach((slot, i) => {
      const x = centre(i) - barW / 2;
      let base = 0;
      const parts = series.map((values, k) => {
        const v = values[i] ?? 0;
        const rect = s('rect', {
          class: k ? 'bar bar-2' : 'bar',
          x,
          y: y(base + v),
          width: barW,
          height: y(base) - y(base + v),
        });
        base += v;
        return rect;
      });
      const detail = series.map((values, k) => `${names[k] ? `${names[k]} ` : ''}${format(values[i] ?? 0)}`).join(', ');
      svg.append(s('g', null, s('title', null, `${label(slot)}: ${detail}`), parts));
    });
    // Day labels from the latest back (it matters most), every `every`-th, each under its bar or
    // moved just enough to stay whole; one that would then crowd its right-hand neighbour is left out.
    let nextLeft = W + gap;
    for (let i = slots.length - 1; i >= 0; i--) {
      const text = xTexts[i];
      const half = widthOf(text, font) / 2;
      const x = Math.min(Math.max(centre(i), half + gap / 2), W - half - gap / 2);
      if ((slots.length - 1 - i) % every !== 0 || x + half + gap > nextLeft) {
        text.remove();
        continue;
      }
      text.setAttribute('x', x);
      nextLeft = x - half;
    }
  });
  return svg;
}

/** A thin horizontal meter (0..1; past 1 shown full and marked). */
export function meter(ratio, label) {
  const clamped = Math.max(0, Math.min(1, ratio));
  return s(
    'svg',
    { class: 'meter', viewBox: '0 0 100 8', preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    s('rect', { class: 'track', x: 0, y: 0, width: 100, height: 8 }),
    s('rect', { class: ratio > 1 ? 'fill over' : 'fill', x: 0, y: 0, width: 100 * clamped, height: 8 }),
  );
}
