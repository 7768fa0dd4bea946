import { ServerAccess, type ToolUser } from './access.ts';
import { shownUrl } from './shown-url.ts';
import { ToolCap } from './tool-bounds.ts';
import { INJECTED_PREFIX } from './tool-names.ts';
import { errorResult } from './tool-result.ts';
import type { InjectedTool, McpServerConfig, RequestBridge, ToolCallResult, ToolClaim, ToolSource } from './types.ts';

/**
 * One user's connections seen through their access: the tools of allowed servers only, at most
 * `mcp.max_tools` of them, and every `bmcp_` name of a configured server claimed, so a call of a
 * tool this user was not offered is refused to the model instead of reaching the client.
 */
export class ScopedBridge implements RequestBridge {
  readonly #source: ToolSource;
  readonly #access: ServerAccess;
  readonly #cap: ToolCap;
  /** True for the view /readyz reports (shared servers, every one allowed): it logs changes of the cut. */
  readonly #reports: boolean;
  #seen: readonly InjectedTool[] | undefined;
  #tools: readonly InjectedTool[] = [];
  /** Names left out by `mcp.max_tools`. */
  #cut: ReadonlySet<string> = new Set();

  constructor(source: ToolSource, access: ServerAccess, cap: ToolCap, reports = false) {
    this.#source = source;
    this.#access = access;
    this.#cap = cap;
    this.#reports = reports;
  }

  /** Filtered and capped once per change of the source's list: the same array (same bytes) for every request. */
  get tools(): readonly InjectedTool[] {
    this.#sync();
    return this.#tools;
  }

  claim(name: string): ToolClaim | undefined {
    const listed = this.#source.find(name);
    if (listed) {
      const refusal =
        this.#access.refusal(listed.server) ??
        (this.#isCut(name)
          ? `tool "${name}" is not offered: all MCP servers together list more than mcp.max_tools (${this.#cap.max})`
          : null);
      return { tool: listed, listed: true, refusal };
    }
    const server = this.#access.serverOf(name);
    if (!server) return undefined;
    const tool = {
      name,
      server: server.name,
      serverUrl: shownUrl(server.url),
      rawName: name.slice(`${INJECTED_PREFIX}${server.name}_`.length),
    };
    return { tool, listed: false, refusal: this.#access.refusal(server.name) };
  }

  #isCut(name: string): boolean {
    this.#sync();
    return this.#cut.has(name);
  }

  #sync(): void {
    const all = this.#source.tools;
    if (all === this.#seen) return;
    this.#seen = all;
    const allowed = this.#access.allowsAll ? all : all.filter((t) => this.#access.allows(t.server));
    const offered = this.#cap.select(allowed.length === all.length ? all : allowed);
    if (this.#reports) this.#cap.note(offered);
    this.#tools = offered.tools;
    this.#cut = new Set([...offered.cut.values()].flat());
  }

  async call(name: string, args: unknown, options?: { signal?: AbortSignal }): Promise<ToolCallResult> {
    const refusal = this.claim(name)?.refusal;
    if (refusal) return { ...errorResult(refusal), durationMs: 0 };
    return this.#source.call(name, args, options);
  }
}

/**
 * One ServerAccess per (role, deny list) and one ScopedBridge per (connections, access), so
 * every request with the same access gets the same tool array: byte-stable, prompt caches warm.
 */
export class ScopedViews {
  readonly #servers: readonly McpServerConfig[];
  readonly #cap: ToolCap;
  readonly #reported: ToolSource | undefined;
  readonly #access = new Map<string, ServerAccess>();
  readonly #views = new WeakMap<ToolSource, Map<string, ScopedBridge>>();

  /** `reported`: the source whose view with every server allowed logs what the cap leaves out (the shared servers). */
  constructor(servers: readonly McpServerConfig[], cap: ToolCap = new ToolCap(servers), reported?: ToolSource) {
    this.#servers = servers;
    this.#cap = cap;
    this.#reported = reported;
  }

  of(source: ToolSource, user: ToolUser): RequestBridge {
    const key = ServerAccess.keyOf(this.#servers, user.role, user.denied_servers);
    let access = this.#access.get(key);
    if (!access) {
      access = new ServerAccess(this.#servers, user.role, user.denied_servers ?? []);
      this.#access.set(key, access);
    }
    let views = this.#views.get(source);
    if (!views) {
      views = new Map();
      this.#views.set(source, views);
    }
    let view = views.get(key);
    if (!view) {
      view = new ScopedBridge(source, access, this.#cap, source === this.#reported && access.allowsAll);
      views.set(key, view);
    }
    return view;
  }
}
