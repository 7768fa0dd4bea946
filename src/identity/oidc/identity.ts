import { createHash, randomBytes } from 'node:crypto';
import { type Role, usernameProblem } from '../users.ts';
import type { OidcConfig } from './config.ts';
import { OidcError } from './errors.ts';

/** Who signed in, as the bridge keeps it: the provider's stable subject and what it says of them. */
export interface SsoIdentity {
  /** The provider's stable id of the person (`sub`); with `issuer`, the key of the bridge user. */
  subject: string;
  issuer: string;
  /** A username for a new user, normalised (see normaliseUsername); a clash is resolved by the caller. */
  username: string;
  name: string;
  email: string | null;
  /** The groups claim, deduplicated; they become the user's teams. */
  groups: string[];
  /** From `auth.oidc.roles` at this sign-in. */
  role: Role;
}

export type Claims = Record<string, unknown>;

/** A token from a hostile or misconfigured provider stays small in memory and in the store. */
export const MAX_GROUPS = 1000;
const MAX_GROUP_LENGTH = 256;
const MAX_NAME_LENGTH = 256;
const MAX_USERNAME_LENGTH = 64;

/**
 * A claim by name; a name with dots that is not itself a claim walks into objects
 * (`realm_access.roles`), while namespaced claims (`https://example.com/groups`) are read whole.
 */
export function claimAt(claims: Claims, name: string): unknown {
  if (name in claims) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Groups as a list of distinct short strings, whatever shape the provider sent (a list, or one string). */
export function groupsFrom(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const groups = new Set<string>();
  for (const item of items) {
    if (groups.size >= MAX_GROUPS) break;
    if (typeof item === 'string' && item && item.length <= MAX_GROUP_LENGTH) groups.add(item);
  }
  return [...groups];
}

/**
 * A claim value made into a bridge username: accents dropped, an e-mail cut at its `@`,
 * lower case, anything but letters, digits, `.`, `_` and `-` made `-`, starting with a letter
 * or digit, at most 64 characters. Undefined when nothing usable is left, or the result would
 * be reserved (`me`) or look like an id.
 */
export function normaliseUsername(raw: string): string | undefined {
  let name = raw.normalize('NFKD').replace(/\p{M}+/gu, '');
  const at = name.lastIndexOf('@');
  if (at > 0) name = name.slice(0, at);
  name = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, MAX_USERNAME_LENGTH)
    .replace(/[._-]+$/, '');
  if (!name || usernameProblem(name)) return undefined;
  return name;
}

/**
 * The usernames to try for a new user, in order: `alice`, `alice-2`, `alice-3` … `alice-99`
 * (cut so each fits in 64 characters), then one with a random suffix. Deterministic for the
 * first 99, so the same clash resolves the same way on every replica.
 */
export function* usernameCandidates(base: string, random: () => string = randomSuffix): Generator<string> {
  yield base;
  for (let n = 2; n < 100; n++) {
    const suffix = `-${n}`;
    yield `${trimEnd(base.slice(0, MAX_USERNAME_LENGTH - suffix.length))}${suffix}`;
  }
  const suffix = `-${random()}`;
  yield `${trimEnd(base.slice(0, MAX_USERNAME_LENGTH - suffix.length))}${suffix}`;
}

const trimEnd = (name: string) => name.replace(/[._-]+$/, '') || 'user';
const randomSuffix = () => randomBytes(5).toString('hex');

/** Owner wins over auditor; a person in neither list is a member. */
export function roleFor(groups: readonly string[], roles: OidcConfig['roles']): Role {
  const member = (list: readonly string[] | undefined) => !!list?.some((g) => groups.includes(g));
  if (member(roles.owner)) return 'owner';
  if (member(roles.auditor)) return 'auditor';
  return 'member';
}

const text = (value: unknown, max: number) =>
  typeof value === 'string' && value.trim() && value.length <= max ? value.trim() : undefined;

/**
 * Validated ID token claims (and userinfo, when merged) → the identity the bridge keeps.
 * Throws OidcError `invalid_claims` without a subject or issuer, and `not_allowed` when
 * `allowed_groups` is set and the person is in none of them.
 */
export function claimsToIdentity(
  claims: Claims,
  config: Pick<OidcConfig, 'groups_claim' | 'username_claim' | 'roles' | 'allowed_groups'>,
): SsoIdentity {
  const subject = text(claims.sub, 255);
  const issuer = text(claims.iss, 2048);
  if (!subject || !issuer) throw new OidcError('invalid_claims', 'no sub or iss');
  const groups = groupsFrom(claimAt(claims, config.groups_claim));
  if (config.allowed_groups?.length && !config.allowed_groups.some((g) => groups.includes(g))) {
    throw new OidcError('not_allowed', 'in none of auth.oidc.allowed_groups');
  }
  const email = text(claims.email, 320);
  const wanted = config.username_claim
    ? [claimAt(claims, config.username_claim)]
    : [claims.preferred_username, claims.email];
  let username: string | undefined;
  for (const value of wanted) {
    username = typeof value === 'string' ? normaliseUsername(value) : undefined;
    if (username) break;
  }
  // Nothing usable: a stable name from the subject, the same at every sign-in.
  username ??= `user-${createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 10)}`;
  const given = [text(claims.given_name, MAX_NAME_LENGTH), text(claims.family_name, MAX_NAME_LENGTH)].filter(Boolean);
  const name = text(claims.name, MAX_NAME_LENGTH) ?? (given.length ? given.join(' ') : username);
  return {
    subject,
    issuer,
    username,
    name,
    email: email?.includes('@') ? email : null,
    groups,
    role: roleFor(groups, config.roles),
  };
}
