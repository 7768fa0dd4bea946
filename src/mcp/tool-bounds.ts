import type { Logger } from '../observability/logger.ts';
import { compareNames } from './tool-names.ts';
import type { InjectedTool, LeftOut, McpServerConfig } from './types.ts';

/** Injected tools per request, all servers together, when `mcp.max_tools` is not set. */
export const DEFAULT_MAX_TOOLS = 128;
/** One server's tool definitions held, at most, when its `max_tools_bytes` is not set. */
export const DEFAULT_MAX_TOOLS_BYTES = '1MiB';
/** Pages of one server's `tools/list` read, at most: a server that pages for ever is read no further. */
export const MAX_PAGES = 100;
/** Tools of one server's `tools/list` read, at most (all pages together), before paging stops. */
export const MAX_LISTED_TOOLS = 10_000;
/** Left-out names a status shows, at most. */
const SHOWN_NAMES = 100;

/** What a tool counts against `max_tools_bytes`: its name, description and input schema as JSON. */
function definitionBytes(tool: InjectedTool): number {
  try {
    return Buffer.byteLength(JSON.stringify([tool.name, tool.description, tool.inputSchema]));
  } catch {
    return Number.POSITIVE_INFINITY; // a schema JSON cannot write is never injected either
  }
}

/** The first names by name of two lists, at most SHOWN_NAMES. */
const firstNames = (a: readonly string[], b: readonly string[]) => [...a, ...b].sort().slice(0, SHOWN_NAMES);

/** Two lists sorted by name, merged: each page costs its own size, not a sort of everything kept. */
function mergeByName<T extends { tool: InjectedTool }>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length)
    out.push(compareNames((a[i] as T).tool, (b[j] as T).tool) <= 0 ? (a[i++] as T) : (b[j++] as T));
  while (i < a.length) out.push(a[i++] as T);
  while (j < b.length) out.push(b[j++] as T);
  return out;
}

/**
 * One server's tool list, read page by page, held to a byte budget: of the tools read so far,
 * those first by name whose definitions together fit in `maxBytes` (a definition larger than the
 * whole budget is left out on its own, so it cannot crowd out every tool after it). A tool left
 * out stays out (later pages only add tools), so the result does not depend on the order the
 * server lists them in, and however much a server lists, only the kept tools, a count and a few
 * names are held.
 */
export class ToolBudget {
  readonly #maxBytes: number;
  #kept: Array<{ tool: InjectedTool; bytes: number }> = [];
  #cut = 0;
  #cutNames: string[] = [];

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  add(tools: readonly InjectedTool[]): void {
    if (!tools.length) return;
    const page = tools.map((tool) => ({ tool, bytes: definitionBytes(tool) }));
    page.sort((a, b) => compareNames(a.tool, b.tool));
    const oversized = page.filter((p) => p.bytes > this.#maxBytes);
    const all = mergeByName(this.#kept, oversized.length ? page.filter((p) => p.bytes <= this.#maxBytes) : page);
    let total = 0;
    let fit = 0;
    while (fit < all.length && total + (all[fit]?.bytes ?? 0) <= this.#maxBytes) total += all[fit++]?.bytes ?? 0;
    this.#kept = all.slice(0, fit);
    // Each list is sorted by name: its first SHOWN_NAMES are all it can add to the names shown.
    const cut = [...oversized.slice(0, SHOWN_NAMES), ...all.slice(fit, fit + SHOWN_NAMES)];
    this.#cut += oversized.length + all.length - fit;
    if (cut.length)
      this.#cutNames = firstNames(
        this.#cutNames,
        cut.map((c) => c.tool.name),
      );
  }

  /** The kept tools, sorted by name. */
  get tools(): InjectedTool[] {
    return this.#kept.map((k) => k.tool);
  }

  /** How many were left out, and the first of their names. */
  get cut(): { count: number; names: string[] } {
    return { count: this.#cut, names: this.#cutNames };
  }
}

/** What a server's own bounds left out of its list (ToolBudget), and why paging stopped early. */
export interface ListBounds {
  overBytes: { count: number; names: string[] };
  /** Why the bridge stopped reading the list before its end; null when it read all of it. */
  unread: string | null;
}

/** The tools one request is offered, and per server the names `mcp.max_tools` left out (sorted). */
export interface Selection {
  readonly tools: readonly InjectedTool[];
  readonly cut: ReadonlyMap<string, readonly string[]>;
}

const NOTHING_CUT: ReadonlyMap<string, readonly string[]> = new Map();

/**
 * `mcp.max_tools` across servers. Which tools are kept is decided the same way everywhere (a
 * request, /readyz, `aibridge mcp check`): servers in configuration order, each server's tools
 * by name, until the cap; the kept tools stay sorted by name, so the injected block is the same
 * on every request and after a restart.
 */
export class ToolCap {
  readonly max: number;
  readonly #rank: ReadonlyMap<string, number>;
  readonly #log: Logger | undefined;
  /** Per server, how many the cap left out when last logged: one WARN per server per change. */
  readonly #reported = new Map<string, number>();

  constructor(servers: readonly McpServerConfig[], max = DEFAULT_MAX_TOOLS, logger?: Logger) {
    this.max = max;
    this.#rank = new Map(servers.map((s, i) => [s.name, i]));
    this.#log = logger;
  }

  /** `tools` sorted by name (any set of servers, already filtered for one user's access). */
  select(tools: readonly InjectedTool[]): Selection {
    if (tools.length <= this.max) return { tools, cut: NOTHING_CUT };
    const byServer = new Map<string, InjectedTool[]>();
    for (const tool of tools) {
      const list = byServer.get(tool.server);
      if (list) list.push(tool);
      else byServer.set(tool.server, [tool]);
    }
    const rank = (server: string) => this.#rank.get(server) ?? Number.MAX_SAFE_INTEGER;
    const servers = [...byServer.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    const kept = new Set<InjectedTool>();
    const cut = new Map<string, string[]>();
    let room = this.max;
    for (const server of servers) {
      const list = byServer.get(server) as InjectedTool[];
      for (const tool of list.slice(0, room)) kept.add(tool);
      if (list.length > room)
        cut.set(
          server,
          list.slice(room).map((t) => t.name),
        );
      room = Math.max(0, room - list.length);
    }
    return { tools: tools.filter((t) => kept.has(t)), cut };
  }

  /** Logs, once per server and change, what the cap leaves out of a list of every server's tools. */
  note(selection: Selection): void {
    const servers = new Set([...this.#reported.keys(), ...selection.cut.keys()]);
    for (const server of servers) {
      const count = selection.cut.get(server)?.length ?? 0;
      if ((this.#reported.get(server) ?? 0) === count) continue;
      this.#reported.set(server, count);
      if (!count) {
        this.#log?.info({ mcp_server: server, max_tools: this.max }, 'MCP tools no longer over mcp.max_tools');
        continue;
      }
      const kept = selection.tools.filter((t) => t.server === server).length;
      this.#log?.warn(
        { mcp_server: server, tools: kept, left_out: count, max_tools: this.max },
        'MCP tools over mcp.max_tools (all servers together) are left out of every request',
      );
    }
  }
}

/** A server's left-out tools for a status, or undefined when none are. */
export function leftOut(bounds: ListBounds | undefined, capped: readonly string[] = []): LeftOut | undefined {
  const overBytes = bounds?.overBytes ?? { count: 0, names: [] };
  const unread = bounds?.unread ?? null;
  if (!overBytes.count && !capped.length && !unread) return undefined;
  return {
    tools: overBytes.count + capped.length,
    over_max_tools: capped.length,
    over_max_tools_bytes: overBytes.count,
    unread,
    names: firstNames(overBytes.names, capped.slice(0, SHOWN_NAMES)),
  };
}
