import { formatHostPort, normalHost, parseHostPort } from './target.ts';

/** The port a `proxy.hosts` key without one is intercepted on: where HTTPS clients send API calls. */
export const DEFAULT_MITM_PORT = 443;

/** `proxy.hosts` as the proxy looks it up: by normalised `host:port`, with the names on their own. */
export interface HostMap {
  /** `host:port` → provider name. */
  readonly byAddress: ReadonlyMap<string, string>;
  /** Every mapped host name: a CONNECT to one on another port is refused, never tunnelled past the bridge. */
  readonly names: ReadonlySet<string>;
}

/**
 * Reads `proxy.hosts`: keys are a host (intercepted on port 443) or `host:port`, values
 * provider names. Throws on a key that is not a host name or IP address, and on two keys for
 * one host and port (`Api.Anthropic.com` and `api.anthropic.com:443`): which provider would
 * win is an accident of order.
 */
export function mapHosts(hosts: Record<string, string>): HostMap {
  const byAddress = new Map<string, string>();
  const keys = new Map<string, string>();
  const names = new Set<string>();
  for (const [key, provider] of Object.entries(hosts)) {
    const withPort = parseHostPort(key);
    const host = withPort?.host ?? normalHost(key.replace(/^\[(.*)\]$/, '$1'));
    if (!host) throw new Error(`proxy.hosts: "${key}" is not a host name or IP address (with an optional :port)`);
    const address = formatHostPort({ host, port: withPort?.port ?? DEFAULT_MITM_PORT });
    const earlier = keys.get(address);
    if (earlier !== undefined) throw new Error(`proxy.hosts: "${key}" is the same host as "${earlier}"`);
    keys.set(address, key);
    byAddress.set(address, provider);
    names.add(host);
  }
  return { byAddress, names };
}
