import { type ObjectShape, scanBody } from '../limits/json-scan.ts';

/** A change to one top-level member, as JSON text. */
export type MemberEdit =
  /** Items put first in the member's array (created when absent): the injected tools. */
  | { name: string; prepend: string }
  /** The member's new value (added at the end when absent). */
  | { name: string; set: string };

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The client's bytes with the bridge's top-level changes spliced in, so a large body the bridge
 * only adds tools to is not serialised again. The result parses to what JSON.stringify of the
 * changed object gives (an added member goes last, as assignment would put it). Undefined when
 * the edit does not fit the bytes (a prepend to something not an array): serialise instead.
 * Only for bytes JSON.parse accepted, with `shape` from scanJson of the same bytes.
 */
export function spliceMembers(raw: Buffer, shape: ObjectShape, edits: readonly MemberEdit[]): Buffer | undefined {
  const cuts: Array<{ at: number; to: number; text: string }> = [];
  let appended = '';
  let count = shape.members.size;
  for (const edit of edits) {
    const span = shape.members.get(edit.name);
    if (!span) {
      const value = 'set' in edit ? edit.set : `[${edit.prepend}]`;
      appended += `${count++ ? ',' : ''}${JSON.stringify(edit.name)}:${value}`;
    } else if ('set' in edit) {
      cuts.push({ at: span.start, to: span.end, text: edit.set });
    } else {
      if (raw[span.start] !== 0x5b) return undefined;
      let next = span.start + 1;
      while (isSpace(raw[next])) next++;
      const empty = raw[next] === 0x5d;
      cuts.push({ at: span.start + 1, to: span.start + 1, text: empty ? edit.prepend : `${edit.prepend},` });
    }
  }
  if (appended) cuts.push({ at: shape.close, to: shape.close, text: appended });
  cuts.sort((a, b) => a.at - b.at);
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(raw.subarray(from, cut.at), Buffer.from(cut.text));
    from = cut.to;
  }
  parts.push(raw.subarray(from));
  return Buffer.concat(parts);
}

/**
 * A body with top-level members set and removed (an alias's target: its model, its API
 * version): spliced into the bytes when nothing is removed, else parsed and written again.
 * Only for bodies that are one JSON object (the client's, once parsed, or the loop's own).
 */
export function editTopLevel(
  body: Buffer | string,
  set: Record<string, unknown>,
  remove: readonly string[] = [],
): Buffer | string {
  const raw = typeof body === 'string' ? Buffer.from(body) : body;
  const shape = scanBody(raw).object;
  if (shape && !remove.some((name) => shape.members.has(name))) {
    const edits = Object.entries(set).map(([name, value]) => ({ name, set: JSON.stringify(value) }));
    const spliced = edits.length ? spliceMembers(raw, shape, edits) : raw;
    if (spliced) return spliced;
  }
  const json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  for (const name of remove) delete json[name];
  Object.assign(json, set);
  return Buffer.from(JSON.stringify(json));
}
