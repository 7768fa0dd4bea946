import { hostname, networkInterfaces } from 'node:os';
import { kindOf } from '../providers/registry.ts';
import type { Config } from './config.ts';

/** Bridge session tokens start with this (src/identity/users.ts); one must never be sent upstream. */
const BRIDGE_TOKEN_PREFIX = 'aib_';

const LOOPBACK = new Set(['localhost', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']);
const UNSPECIFIED = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

const bare = (host: string) => host.replace(/^\[|\]$/g, '').toLowerCase();
const isLoopback = (host: string) => LOOPBACK.has(host) || host.endsWith('.localhost') || /^127\./.test(host);

/** Every name this machine answers to: loopback, the unspecified address, its interfaces and hostname. */
function isThisMachine(host: string): boolean {
  if (isLoopback(host) || UNSPECIFIED.has(host) || host === hostname().toLowerCase()) return true;
  return Object.values(networkInterfaces()).some((addresses) =>
    addresses?.some((a) => bare(a.address.split('%')[0] as string) === host),
  );
}

/**
 * Whether a request to `baseUrl` would reach a server listening on `listen`. Loopback names and
 * 0.0.0.0 count as one host (a client connecting to 0.0.0.0 reaches loopback); a server on all
 * addresses is also reached through any of the machine's own addresses or its hostname.
 */
export function pointsAtListener(baseUrl: string, listen: string): boolean {
  const at = listen.lastIndexOf(':');
  const listenHost = bare(listen.slice(0, at));
  const listenPort = Number(listen.slice(at + 1));
  const url = new URL(baseUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  if (!listenPort || port !== listenPort) return false;
  const host = bare(url.hostname);
  if (host === listenHost) return true;
  if (UNSPECIFIED.has(listenHost)) return isThisMachine(host);
  const local = (h: string) => isLoopback(h) || UNSPECIFIED.has(h);
  return local(listenHost) && local(host);
}

const BRIDGE_TOKEN = `is an AI Bridge token (${BRIDGE_TOKEN_PREFIX}…), not a provider key; a bridge token must never be sent upstream`;

/**
 * Provider settings that must stop start-up: a bridge token as upstream key, a base_url that is
 * the bridge, and what each kind finds wrong with its own settings beyond the schema; aliases
 * whose targets are not configured providers of one API family.
 */
export function providerProblems(config: Config): string[] {
  const problems: string[] = [];
  config.providers.forEach((p, i) => {
    problems.push(...(kindOf(p.type).check?.(p, `providers[${i}]`) ?? []));
    if (p.api_key?.trim().startsWith(BRIDGE_TOKEN_PREFIX)) problems.push(`providers[${i}].api_key: ${BRIDGE_TOKEN}`);
    if (Array.isArray(p.api_keys)) {
      p.api_keys.forEach((key, k) => {
        if (String(key).trim().startsWith(BRIDGE_TOKEN_PREFIX))
          problems.push(`providers[${i}].api_keys[${k}]: ${BRIDGE_TOKEN}`);
      });
      if (p.api_key?.trim()) problems.push(`providers[${i}].api_keys: set either api_key or api_keys, not both`);
    }
    if (p.base_url && pointsAtListener(p.base_url, config.listen)) {
      problems.push(
        `providers[${i}].base_url: points at the bridge itself (listen ${config.listen}); requests would loop`,
      );
    }
  });
  problems.push(...aliasProblems(config));
  return problems;
}

/** Every alias names configured providers of one API family, once. */
function aliasProblems(config: Config): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  (config.models ?? []).forEach((entry, i) => {
    if (seen.has(entry.alias)) problems.push(`models[${i}].alias: "${entry.alias}" is defined twice`);
    seen.add(entry.alias);
    const families = new Set<string>();
    entry.targets.forEach((target, t) => {
      const provider = config.providers.find((p) => p.name === target.provider);
      if (!provider) problems.push(`models[${i}].targets[${t}].provider: no provider is named "${target.provider}"`);
      else families.add(kindOf(provider.type).family);
    });
    if (families.size > 1) {
      problems.push(
        `models[${i}].targets: mixes OpenAI-style and Anthropic-style providers; an alias's targets must speak one API`,
      );
    }
  });
  return problems;
}
