import type { Role } from '../store/store.ts';

/** Which MCP tool an injected name stands for. */
export interface ToolRef {
  /** bmcp_<server>_<tool>, shortened/sanitised to ^[a-zA-Z0-9_-]{1,64}$ (see tool-names.ts). */
  name: string;
  server: string;
  serverUrl: string;
  /** The tool's name on its MCP server. */
  rawName: string;
}

/** A tool from an MCP server as the bridge offers it to a model. */
export interface InjectedTool extends ToolRef {
  description: string;
  /** As the server gave it. */
  inputSchema: Record<string, unknown>;
}

export type ToolResultContent =
  | { type: 'text'; text: string }
  | { type: 'image'; data: string /* base64 */; mimeType: string };

export interface ToolCallResult {
  content: ToolResultContent[];
  isError: boolean;
  /** null, or a message when the call failed or the tool returned isError. */
  error: string | null;
  durationMs: number;
}

/** The tools of a set of MCP connections: the shared servers plus one user's own. */
export interface ToolSource {
  /** Sorted by name. */
  readonly tools: readonly InjectedTool[];
  find(name: string): InjectedTool | undefined;
  /** Never throws: errors become isError results. */
  call(name: string, args: unknown, options?: { signal?: AbortSignal }): Promise<ToolCallResult>;
}

/** What a model's call of a `bmcp_` name is to the bridge. */
export interface ToolClaim {
  tool: ToolRef;
  /** True when the name is a tool its server lists (false: a made-up or vanished name). */
  listed: boolean;
  /** Why this user may not run it (role, deny list); null when the bridge runs it. */
  refusal: string | null;
}

/** The MCP tools one request may use, as the pool hands them to it. */
export interface RequestBridge {
  /** What the model is offered: sorted by name, the same array for every request with the same access. */
  readonly tools: readonly InjectedTool[];
  /**
   * Whether a call is the bridge's to answer: any `bmcp_` name of a configured server is (offered
   * or not, so a forged one is refused rather than shown to the client); undefined for client tools.
   */
  claim(name: string): ToolClaim | undefined;
  /** Never throws: errors and refusals become isError results. */
  call(name: string, args: unknown, options?: { signal?: AbortSignal }): Promise<ToolCallResult>;
}

/** What of one server's tool list is not injected, and why (README "MCP tools and the tool loop"). */
export interface LeftOut {
  /** Tools left out, of those the bridge read (when `unread` is set the server lists more). */
  tools: number;
  /** Left out because all servers together offer more than `mcp.max_tools`. */
  over_max_tools: number;
  /** Left out because this server's definitions together are larger than its `max_tools_bytes`. */
  over_max_tools_bytes: number;
  /** Set when the bridge stopped reading the server's `tools/list` before its end: why. */
  unread: string | null;
  /** The left-out injected names, first by name (at most 100). */
  names: string[];
}

export interface McpServerStatus {
  state: 'connecting' | 'ready' | 'failed' | 'closed';
  url: string;
  /** Tools injected: after the filters and every bound. */
  tools: number;
  last_error: string | null;
  /** Present when the server lists tools the bridge does not inject because of a bound. */
  left_out?: LeftOut;
  /** Set for per_user_credentials servers: the state is that of the users' live connections. */
  per_user?: true;
  /** Per-user servers: how many users have a live connection. */
  users?: number;
}

/** An `mcp_servers` entry of the configuration. */
export interface McpServerConfig {
  name: string;
  url: string;
  headers: Record<string, string>;
  tool_allow_regex?: string;
  tool_deny_regex?: string;
  per_user_credentials: boolean;
  call_timeout: string;
  /** Largest answer to one request (bytes, or `512KiB` / `8MiB`). */
  max_response_bytes?: string | number;
  /** Tool definitions kept from this server, all pages together (bytes, or `512KiB` / `1MiB`). */
  max_tools_bytes?: string | number;
  /** Roles given this server's tools; absent = everyone. */
  allowed_roles?: Role[];
}
