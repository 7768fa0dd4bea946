import { createHash } from 'node:crypto';

/** Providers accept tool names matching ^[a-zA-Z0-9_-]{1,64}$. */
export const MAX_TOOL_NAME = 64;
const INVALID = /[^a-zA-Z0-9_-]/g;
const HASH_HEX = 8;

/** The bridge's own MCP server: its name in injected tool names (a configured server may not take it). */
export const BRIDGE_SERVER = 'aibridge';

/** What every injected tool's name starts with. */
export const INJECTED_PREFIX = 'bmcp_';

/**
 * bmcp_<server>_<tool>. A name that is too long or has characters providers refuse is
 * sanitised, cut, and given `_` + 8 hex of sha256(full name), so it stays stable across
 * restarts and distinct from every other tool (two raw names that sanitise alike differ in hash).
 */
export function injectedName(server: string, tool: string): string {
  const full = `${INJECTED_PREFIX}${server}_${tool}`;
  const safe = full.replace(INVALID, '_');
  if (safe === full && full.length <= MAX_TOOL_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_HEX);
  return `${safe.slice(0, MAX_TOOL_NAME - HASH_HEX - 1)}_${hash}`;
}

/** Keeps a raw MCP tool name when it matches allow (if any) and not deny (deny wins). */
export function toolFilter(allow?: string, deny?: string): (rawName: string) => boolean {
  const allowRe = allow ? new RegExp(allow) : undefined;
  const denyRe = deny ? new RegExp(deny) : undefined;
  return (rawName) => !denyRe?.test(rawName) && (allowRe?.test(rawName) ?? true);
}

/** Byte order (UTF-16 code units), never locale order, so the injected block is identical everywhere. */
export function compareNames(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
