// A text "flame" of a V8 .cpuprofile: the frames with the most self time.
// node bench/flame.ts FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './processes.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  selfMs: number;
  share: number;
  /** The frames it was called from most, with their share of its self time. */
  callers: Array<{ name: string; share: number }>;
}

/** Only samples taken inside this window (monotonic clock, microseconds, as process.hrtime). */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Where a frame lives, short: the project's files relative to it, dependencies by package. */
export function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
  if (dep) return `${dep[1]}/${(dep[2] as string).split('/').at(-1)}:${line + 1}`;
  if (path.startsWith('node:')) return `${path}:${line + 1}`;
  return `${relative(ROOT, path)}:${line + 1}`;
}

const nameOf = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${where(url, lineNumber)}`.trim();
};

/**
 * Self time per frame (function + place), largest first, with its main callers. GC and
 * "(program)" are kept: they are part of the cost; idle time is not.
 */
export function topFrames(
  file: string,
  top = 15,
  window?: Window,
): { frames: Frame[]; totalMs: number; busyMs: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    self.set(id, (self.get(id) ?? 0) + delta);
  });
  const byFrame = new Map<string, { micros: number; callers: Map<string, number> }>();
  let total = 0;
  let idle = 0;
  for (const [id, micros] of self) {
    const node = byId.get(id) as ProfileNode;
    const name = nameOf(node);
    total += micros;
    if (name === '(idle)') {
      idle += micros;
      continue;
    }
    const entry = byFrame.get(name) ?? { micros: 0, callers: new Map() };
    entry.micros += micros;
    // The nearest caller that is a different function (recursion and inlined self-calls skipped).
    let parent = parentOf.get(id);
    while (parent && nameOf(parent) === name) parent = parentOf.get(parent.id);
    const caller = parent ? nameOf(parent) : '(root)';
    entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + micros);
    byFrame.set(name, entry);
  }
  const busy = total - idle;
  const frames = [...byFrame]
    .sort((a, b) => b[1].micros - a[1].micros)
    .slice(0, top)
    .map(([name, { micros, callers }]) => ({
      name,
      selfMs: micros / 1000,
      share: micros / busy,
      callers: [...callers]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 2)
        .map(([caller, m]) => ({ name: caller, share: m / micros })),
    }));
  return { frames, totalMs: total / 1000, busyMs: busy / 1000 };
}

export function formatFrames(title: string, summary: ReturnType<typeof topFrames>): string {
  const lines = [`${title}: busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms sampled`];
  for (const f of summary.frames) {
    const callers = f.callers.map((c) => `${c.name} ${(c.share * 100).toFixed(0)}%`).join(', ');
    lines.push(
      `  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}  ← ${callers}`,
    );
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node bench/flame.ts FILE.cpuprofile [--top N]');
  const at = process.argv.indexOf('--top');
  process.stdout.write(`${formatFrames(file, topFrames(file, at > 0 ? Number(process.argv[at + 1]) : 15))}\n`);
}
