// Small SVG charts: bars per day (optionally two stacked series) and a one-line meter.
import { s } from './dom.js';

const W = 640;
const H = 200;
const PAD = { top: 12, right: 8, bottom: 24, left: 56 };

/**
 * Bars over labelled slots. `series` is one or two arrays of numbers (stacked); `format`
 * writes axis and hover values; `label` writes a slot's name.
 */
export function barChart({ slots, series, format, label, title, names = [] }) {
  const totals = slots.map((_, i) => series.reduce((sum, values) => sum + (values[i] ?? 0), 0));
  const max = Math.max(...totals, 0) || 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(slots.length, 1);
  const barW = Math.max(2, Math.min(step * 0.7, 40));
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const every = Math.ceil(slots.length / 8); // at most ~8 x labels
  const bars = [];
  slots.forEach((slot, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    let base = 0;
    const parts = series.map((values, k) => {
      const v = values[i] ?? 0;
      const rect = s('rect', {
        class: k ? 'bar bar-2' : 'bar',
        x,
        y: y(base + v),
        width: barW,
        height: (v / max) * plotH,
      });
      base += v;
      return rect;
    });
    const detail = series.map((values, k) => `${names[k] ? `${names[k]} ` : ''}${format(values[i] ?? 0)}`).join(', ');
    bars.push(s('g', null, s('title', null, `${label(slot)}: ${detail}`), parts));
    if (i % every === 0) {
      bars.push(s('text', { x: x + barW / 2, y: H - 6, 'text-anchor': 'middle' }, label(slot)));
    }
  });
  const grid = [0, 0.5, 1].map((f) => [
    s('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: y(max * f), y2: y(max * f) }),
    s('text', { x: PAD.left - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, format(max * f)),
  ]);
  return s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title },
    s('title', null, title),
    grid,
    bars,
  );
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
