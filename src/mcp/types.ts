/** A tool from an MCP server as the bridge offers it to a model. */
export interface InjectedTool {
  /** bmcp_<server>_<tool>, shortened/sanitised to ^[a-zA-Z0-9_-]{1,64}$ (see tool-names.ts). */
  name: string;
  server: string;
  serverUrl: string;
  /** The tool's name on its MCP server. */
  rawName: string;
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

/** The MCP tools one request may use: shared servers plus the user's own. */
export interface RequestBridge {
  /** Sorted by name. */
  readonly tools: readonly InjectedTool[];
  find(name: string): InjectedTool | undefined;
  /** Never throws: errors become isError results. */
  call(name: string, args: unknown, options?: { signal?: AbortSignal }): Promise<ToolCallResult>;
}

export interface McpServerStatus {
  state: 'connecting' | 'ready' | 'failed' | 'closed';
  url: string;
  tools: number;
  last_error: string | null;
  /** Set for per_user_credentials servers: the state is that of the users' live connections. */
  per_user?: true;
  /** Per-user servers: how many users have a live connection. */
  users?: number;
}
