import { isLoopbackUrl } from './loopback.ts';

/** `auth.oidc`: single sign-on with an OpenID Connect provider (README: Single sign-on). */
export interface OidcConfig {
  issuer: string;
  client_id: string;
  client_secret: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post';
  /** The console's callback URL as registered; absent = derived from the request. */
  redirect_url?: string;
  /** Absent = openid profile email, plus the groups claim's scope when the provider offers one. */
  scopes?: string[];
  groups_claim: string;
  /** Absent = preferred_username, else email. */
  username_claim?: string;
  /** Group → role; owner wins over auditor; everyone else is a member. */
  roles: { owner?: string[]; auditor?: string[] };
  /** When set, only members of one of these groups may sign in. */
  allowed_groups?: string[];
  clock_tolerance: string | number;
}

/**
 * Problems of `auth.oidc` the schema cannot see: the provider must be reached over TLS (plain
 * HTTP only on this machine), or a network attacker could hand the bridge its own keys.
 */
export function oidcProblems(config: { auth: { oidc?: OidcConfig } }): string[] {
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
