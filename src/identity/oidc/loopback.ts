import { isIP } from 'node:net';
import type { Config } from '../../config/config.ts';

/** A URL naming this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * Problems of `auth.oidc` the schema cannot see: the provider must be reached over TLS (plain
 * HTTP only on this machine), or a network attacker could hand the bridge its own keys.
 */
export function oidcProblems(config: Config): string[] {
  const settings = config.auth.oidc;
  if (!settings) return [];
  const problems: string[] = [];
  const issuer = URL.parse(settings.issuer);
  if (issuer?.protocol === 'http:' && !isLoopbackUrl(issuer)) {
    problems.push('auth.oidc.issuer: must be an https URL (plain http only on a loopback address)');
  }
  if (issuer && (issuer.search || issuer.hash)) {
    problems.push('auth.oidc.issuer: must not have a query or fragment');
  }
  return problems;
}
