import type { ProxyConfig } from '../proxy/config.ts';
import { mapHosts } from '../proxy/hosts.ts';
import { parseHostPort } from '../proxy/target.ts';
import { pointsAtListener } from './provider-checks.ts';

/** What the checks below read of the whole configuration. */
interface Checked {
  listen: string;
  providers: ReadonlyArray<{ name: string }>;
  proxy?: ProxyConfig;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * What the schema cannot see in `proxy:`: each mapped host well-formed, named once, and served
 * by a configured provider; the CA files given both or neither; the proxy not on the bridge's
 * own address. Each problem names its setting by path.
 */
export function proxyProblems(config: Checked): string[] {
  const proxy = config.proxy;
  if (!proxy) return [];
  const problems: string[] = [];
  const listen = parseHostPort(proxy.listen, 0);
  if (!listen) problems.push(`proxy.listen: "${proxy.listen}" is not host:port`);
  else if (listen.port && pointsAtListener(`http://${proxy.listen}`, config.listen)) {
    problems.push(
      `proxy.listen: is the bridge's own listen address (${config.listen}); give the proxy a port of its own`,
    );
  }
  try {
    mapHosts(proxy.hosts);
  } catch (err) {
    problems.push(message(err));
  }
  const providers = new Set(config.providers.map((p) => p.name));
  for (const [key, provider] of Object.entries(proxy.hosts)) {
    if (!providers.has(provider)) problems.push(`proxy.hosts["${key}"]: names no configured provider ("${provider}")`);
  }
  // As caSourceOf says at start-up; checked here without loading the X.509 library into every command.
  const [cert, key] = [Boolean(proxy.ca_cert), Boolean(proxy.ca_key)];
  if (cert !== key)
    problems.push(`proxy.${cert ? 'ca_key' : 'ca_cert'}: is required when proxy.${cert ? 'ca_cert' : 'ca_key'} is set`);
  return problems;
}
