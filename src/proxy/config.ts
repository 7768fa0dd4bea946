import type { ProxyPolicy } from './server.ts';

/** The `proxy:` section of the configuration (README "Clients that cannot set a base URL"). */
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

/** What a reload may change in a running proxy. */
export const proxyPolicyOf = (proxy: ProxyConfig): ProxyPolicy => ({
  hosts: proxy.hosts,
  tunnel: proxy.tunnel,
  tunnelPrivate: proxy.tunnel_private,
});
