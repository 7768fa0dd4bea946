import { isDeepStrictEqual } from 'node:util';
import type { Config, ProviderConfig, ProxyConfig } from './config.ts';

/** Read once at start-up (the socket, the store, the tracer): a reload keeps the running values. */
const RESTART_ONLY = ['listen', 'data_dir', 'mongodb', 'tracing', 'audit_sinks'] as const;
/** The proxy's listener and CA are opened at start-up; what it intercepts or tunnels is read per CONNECT. */
const RESTART_ONLY_PROXY = ['listen', 'ca_cert', 'ca_key'] as const;
/** Fixed when the HTTP server is built. */
const RESTART_ONLY_LIMITS = ['body_bytes', 'max_header_bytes'] as const;

export interface ConfigChanges {
  /** Top-level sections whose value changes, as the new config takes effect. */
  sections: string[];
  /** mcp_servers entries by name, compared by value. */
  servers: { added: string[]; removed: string[]; changed: string[] };
  /** Settings that changed in the file but need a restart; their running values stay in effect. */
  needRestart: string[];
}

/**
 * Provider routes are registered at start-up, so the set of names and their types is fixed:
 * an entry keeps its name and type and takes a new key or base URL; an added, removed or
 * retyped provider waits for a restart.
 */
function providersInEffect(running: ProviderConfig[], next: ProviderConfig[], needRestart: string[]) {
  const byName = new Map(next.map((p) => [p.name, p]));
  const providers = running.map((p) => {
    const entry = byName.get(p.name);
    if (!entry) needRestart.push(`providers.${p.name} (removed)`);
    else if (entry.type !== p.type) needRestart.push(`providers.${p.name}.type`);
    return entry && entry.type === p.type ? entry : p;
  });
  for (const p of next) if (!running.some((r) => r.name === p.name)) needRestart.push(`providers.${p.name} (added)`);
  return providers;
}

/**
 * The proxy as a reload leaves it: started or stopped only by a restart, its listener and CA
 * kept; new hosts and tunnel settings apply, unless a host names a provider only a restart adds.
 */
function proxyInEffect(
  running: ProxyConfig | undefined,
  next: ProxyConfig | undefined,
  providers: ProviderConfig[],
  needRestart: string[],
): ProxyConfig | undefined {
  if (!running || !next) {
    if (running !== next) needRestart.push('proxy');
    return running;
  }
  const effective: ProxyConfig = { ...next };
  for (const key of RESTART_ONLY_PROXY) {
    if (running[key] === next[key]) continue;
    needRestart.push(`proxy.${key}`);
    if (running[key] === undefined) delete effective[key];
    else effective[key] = running[key];
  }
  const served = new Set(providers.map((p) => p.name));
  if (Object.values(next.hosts).some((name) => !served.has(name))) {
    needRestart.push('proxy.hosts');
    effective.hosts = running.hosts;
  }
  return effective;
}

/**
 * What a reload from `running` to `next` changes. `effective` is `next` with every
 * restart-only setting kept at its running value: the configuration the bridge then runs on.
 */
export function diffConfig(running: Config, next: Config): { effective: Config; changes: ConfigChanges } {
  const needRestart: string[] = [];
  const effective: Config = {
    ...next,
    listen: running.listen,
    data_dir: running.data_dir,
    mongodb: running.mongodb,
    tracing: running.tracing,
    audit_sinks: running.audit_sinks,
    limits: { ...next.limits },
  };
  for (const key of RESTART_ONLY) if (!isDeepStrictEqual(running[key], next[key])) needRestart.push(key);
  for (const key of RESTART_ONLY_LIMITS) {
    if (running.limits[key] !== next.limits[key]) needRestart.push(`limits.${key}`);
    effective.limits[key] = running.limits[key];
  }
  effective.providers = providersInEffect(running.providers, next.providers, needRestart);
  const proxy = proxyInEffect(running.proxy, next.proxy, effective.providers, needRestart);
  if (proxy) effective.proxy = proxy;
  else delete effective.proxy;

  const sections = Object.keys(effective).filter(
    (key) => !isDeepStrictEqual(running[key as keyof Config], effective[key as keyof Config]),
  );
  const before = new Map(running.mcp_servers.map((s) => [s.name, s]));
  const after = new Map(effective.mcp_servers.map((s) => [s.name, s]));
  const servers = {
    added: [...after.keys()].filter((name) => !before.has(name)),
    removed: [...before.keys()].filter((name) => !after.has(name)),
    changed: [...after.keys()].filter(
      (name) => before.has(name) && !isDeepStrictEqual(before.get(name), after.get(name)),
    ),
  };
  return { effective, changes: { sections, servers, needRestart } };
}
