// node bench/median.ts RESULTS.json… [--out FILE]: the median of several benchmark runs, figure by
// figure, printed as one table (and written to FILE): one run on a shared machine is noisy.
import { readFileSync, writeFileSync } from 'node:fs';
import { percentile } from './load.ts';
import { printReport, type Results } from './report.ts';

/** Each numeric leaf replaced by the median of that leaf across the runs; other leaves from the first. */
function merge(values: unknown[]): unknown {
  const [first] = values;
  if (typeof first === 'number') {
    const numbers = values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
    return percentile(numbers, 50);
  }
  if (Array.isArray(first)) return first.map((_, i) => merge(values.map((v) => (v as unknown[])[i])));
  if (first && typeof first === 'object') {
    return Object.fromEntries(
      Object.keys(first).map((key) => [key, merge(values.map((v) => (v as Record<string, unknown>)?.[key]))]),
    );
  }
  return first;
}

const args = process.argv.slice(2);
const at = args.indexOf('--out');
const out = at >= 0 ? args[at + 1] : undefined;
const files = args.filter((_, i) => at < 0 || (i !== at && i !== at + 1));
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Results);
const median = merge(runs.map(({ targets: _, ...r }) => r)) as Results;
median.runs = runs.length;
printReport(median);
if (out) writeFileSync(out, `${JSON.stringify(median, null, 2)}\n`);
