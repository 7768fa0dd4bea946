import type { StreamableHTTPServerProxy } from './streamable-http-proxy.ts';
import { compareNames } from './tool-names.ts';
import { errorResult } from './tool-result.ts';
import type { InjectedTool, ToolCallResult, ToolSource } from './types.ts';

interface Route {
  rawName: string;
  proxy: StreamableHTTPServerProxy;
}

/**
 * The tools of a fixed set of proxies as one sorted list. The merged list is rebuilt only
 * when a proxy's list changes (compared by identity), so every request that sees the same
 * tools gets the very same array, and the injected block stays byte-stable.
 */
export class ProxyBridge implements ToolSource {
  readonly #proxies: readonly StreamableHTTPServerProxy[];
  #seen: ReadonlyArray<readonly InjectedTool[]> = [];
  #tools: readonly InjectedTool[] = [];
  #byName = new Map<string, InjectedTool>();
  /** The tools of the current lists. */
  #current = new Map<string, Route>();
  /**
   * The current tools and those of the lists before the last change: a request offered a tool
   * just before its server dropped it still reaches the server (and gets its reason). Only one
   * change back, so a server that keeps changing its list cannot grow this without end.
   */
  #known = new Map<string, Route>();

  constructor(proxies: readonly StreamableHTTPServerProxy[]) {
    this.#proxies = proxies;
  }

  get tools(): readonly InjectedTool[] {
    this.#sync();
    return this.#tools;
  }

  find(name: string): InjectedTool | undefined {
    this.#sync();
    return this.#byName.get(name);
  }

  async call(name: string, args: unknown, options?: { signal?: AbortSignal }): Promise<ToolCallResult> {
    this.#sync();
    const known = this.#known.get(name);
    if (!known) return { ...errorResult(`unknown tool "${name}"`), durationMs: 0 };
    return known.proxy.callTool(known.rawName, args, options);
  }

  #sync(): void {
    const lists = this.#proxies.map((p) => p.tools);
    if (lists.length === this.#seen.length && lists.every((l, i) => l === this.#seen[i])) return;
    const byName = new Map<string, InjectedTool>();
    const current = new Map<string, Route>();
    lists.forEach((list, i) => {
      for (const tool of list) {
        if (byName.has(tool.name)) continue; // server names are unique, so only a hash collision lands here
        byName.set(tool.name, tool);
        current.set(tool.name, { rawName: tool.rawName, proxy: this.#proxies[i] as StreamableHTTPServerProxy });
      }
    });
    this.#known = new Map([...this.#current, ...current]);
    this.#current = current;
    this.#seen = lists;
    this.#tools = [...byName.values()].sort(compareNames);
    this.#byName = byName;
  }
}
