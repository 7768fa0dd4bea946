/** The validated configuration; shapes mirror schemas/config.schema.json, which owns defaults. */
export interface ProviderConfig {
  name: string;
  type: 'openai' | 'anthropic';
  base_url: string;
  api_key: string;
}

export interface McpServerConfig {
  name: string;
  url: string;
  headers: Record<string, string>;
  tool_allow_regex?: string;
  tool_deny_regex?: string;
  per_user_credentials: boolean;
  call_timeout: string;
}

export interface Config {
  listen: string;
  data_dir: string;
  mongodb: { uri: string; database: string };
  providers: ProviderConfig[];
  mcp_servers: McpServerConfig[];
  tool_loop: { max_iterations: number; keepalive: string };
  retention: string | number;
  tracing: { enabled: boolean; logs: boolean };
  limits: {
    body_bytes: number;
    max_concurrent_interceptions: number;
    upstream_timeout: string;
    user_requests_per_minute: number;
    max_header_bytes: number;
    breaker_threshold: number;
    breaker_cooldown: string;
    body_timeout: string;
    max_model_labels: number;
    max_tool_labels: number;
  };
}
