/** The `proxy:` section of the configuration (README "Intercepting proxy"). */
export interface ProxyConfig {
  /** `host:port` of the HTTP proxy clients set as HTTPS_PROXY. */
  listen: string;
  /** Host (intercepted on port 443) or `host:port` → the provider whose routes serve it. */
  hosts: Record<string, string>;
  /** Every other CONNECT: tunnelled byte for byte, or refused. */
  tunnel: 'allow' | 'deny';
  /** Whether tunnels may reach loopback, private and link-local addresses. */
  tunnel_private: boolean;
  /** The operator's own CA (PEM files, both or neither); default: the bridge's, under data_dir. */
  ca_cert?: string;
  ca_key?: string;
}

/** The `proxy:` section of a loaded configuration, if it has one. */
export function proxyConfigOf(config: object): Partial<ProxyConfig> | undefined {
  const section = (config as { proxy?: unknown }).proxy;
  return section && typeof section === 'object' ? (section as Partial<ProxyConfig>) : undefined;
}
