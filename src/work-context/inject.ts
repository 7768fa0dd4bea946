import { BRIDGE_SERVER, compareNames } from '../mcp/tool-names.ts';
import type { InjectedTool, RequestBridge, ToolCallResult, ToolClaim } from '../mcp/types.ts';
import {
  ANNOTATE_WORK,
  ANNOTATE_WORK_DESCRIPTION,
  ANNOTATE_WORK_SCHEMA,
  BRIDGE_MCP_PATH,
  INJECTED_ANNOTATE_WORK,
} from './tool.ts';

/** annotate_work as an injected tool, like any MCP server's. */
export const WORK_TOOL: InjectedTool = {
  name: INJECTED_ANNOTATE_WORK,
  server: BRIDGE_SERVER,
  serverUrl: BRIDGE_MCP_PATH,
  rawName: ANNOTATE_WORK,
  description: ANNOTATE_WORK_DESCRIPTION,
  inputSchema: ANNOTATE_WORK_SCHEMA as unknown as Record<string, unknown>,
};

const CLAIM: ToolClaim = { tool: WORK_TOOL, listed: true, refusal: null };

/** Each tool list with annotate_work in it, once: the same array for the same list (a byte-stable block). */
const lists = new WeakMap<readonly InjectedTool[], readonly InjectedTool[]>();

function withWork(tools: readonly InjectedTool[]): readonly InjectedTool[] {
  let list = lists.get(tools);
  if (!list) {
    list = [...tools, WORK_TOOL].sort(compareNames);
    lists.set(tools, list);
  }
  return list;
}

/**
 * A request's tools with the bridge's own annotate_work among them (`annotations.inject`): the
 * loop runs it in-process through `run`, exactly as it would call an MCP server's tool.
 */
export function withWorkTool(bridge: RequestBridge, run: (args: unknown) => Promise<ToolCallResult>): RequestBridge {
  return {
    get tools() {
      return withWork(bridge.tools);
    },
    claim: (name) => (name === INJECTED_ANNOTATE_WORK ? CLAIM : bridge.claim(name)),
    call: (name, args, options) => (name === INJECTED_ANNOTATE_WORK ? run(args) : bridge.call(name, args, options)),
  };
}
