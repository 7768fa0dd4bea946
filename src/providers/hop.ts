import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Loop detection: every upstream request carries this header with this process's id appended.
 * A request arriving with our own id went out through us and came back (a base_url that, by some
 * name, is the bridge itself, or a chain of bridges pointing at each other).
 */
export const HOP_HEADER = 'x-aibridge-hop';

/** Random per process, so replicas behind one address do not mistake each other for a loop. */
export const HOP_ID = randomBytes(9).toString('base64url');

/** The ids on an incoming request's hop header (it may be repeated or a comma list). */
function hops(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',').map((id) => id.trim()));
}

/** True when the request has already passed through this process. */
export function isLoop(headers: IncomingHttpHeaders): boolean {
  return hops(headers[HOP_HEADER]).includes(HOP_ID);
}

/** The hop header to send upstream: the ids the client's request carried, then ours. */
export function nextHop(headers: IncomingHttpHeaders): string {
  return [...hops(headers[HOP_HEADER]).slice(-16), HOP_ID].join(', ');
}
