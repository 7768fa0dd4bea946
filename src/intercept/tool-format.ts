import type { InjectedTool } from '../mcp/types.ts';
import type { Json } from './json.ts';
import type { FormattedTools } from './types.ts';

/**
 * Formats and serialises a tool list once. The pool hands every request with the same access the
 * same array until a server's list changes, so per user and role this runs once, not per request.
 */
export function toolFormatter(
  convert: (tool: InjectedTool) => Json,
): (tools: readonly InjectedTool[]) => FormattedTools {
  const cache = new WeakMap<readonly InjectedTool[], FormattedTools>();
  return (tools) => {
    let formatted = cache.get(tools);
    if (!formatted) {
      const items = tools.map(convert);
      formatted = { items, json: items.map((item) => JSON.stringify(item)).join(',') };
      cache.set(tools, formatted);
    }
    return formatted;
  };
}

/** Injected tools first, the client's after them (Anthropic cache breakpoints sit on the client's and stay valid). */
export function prependTools(body: Json, formatted: FormattedTools): void {
  body.tools = [...formatted.items, ...(Array.isArray(body.tools) ? body.tools : [])];
}

/**
 * The names of the tools the client defines, in any API's shape: `name` (Messages, Responses) or
 * `function.name` (Chat Completions). A client tool named like an injected one wins over it.
 */
export function clientToolNames(body: Json): string[] {
  if (!Array.isArray(body.tools)) return [];
  const names: string[] = [];
  for (const tool of body.tools as unknown[]) {
    if (!tool || typeof tool !== 'object') continue;
    const { name, function: fn } = tool as { name?: unknown; function?: { name?: unknown } };
    const found = typeof name === 'string' ? name : fn && typeof fn === 'object' ? fn.name : undefined;
    if (typeof found === 'string') names.push(found);
  }
  return names;
}
