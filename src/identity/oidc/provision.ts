import type { Logger } from '../../observability/logger.ts';
import type { Role } from '../users.ts';
import { OidcError } from './errors.ts';
import { type SsoIdentity, usernameCandidates } from './identity.ts';

/** A bridge user as single sign-on sees it. */
export interface SsoUser {
  id: string;
  username: string;
  name: string;
  email: string | null;
  role: Role;
  disabled: boolean;
  deleted: boolean;
}

export interface NewSsoUser {
  username: string;
  name: string;
  email: string | null;
  role: Role;
  /** The user is found by this pair at every later sign-in. */
  issuer: string;
  subject: string;
}

export type SsoUserPatch = Partial<Pick<SsoUser, 'name' | 'email' | 'role'>>;

/** createUser's refusal when the username is taken (case-insensitively, deleted users included). */
export class UsernameTaken extends Error {}
/** createUser's refusal when this issuer and subject already have a user (a concurrent first sign-in). */
export class SubjectTaken extends Error {}

/**
 * What single sign-on needs of the store. `createUser` must be atomic on both the username
 * (case-insensitive) and the issuer + subject pair, throwing UsernameTaken or SubjectTaken;
 * `updateUser` may refuse a change the store forbids (the last owner's demotion), and that
 * refusal ends the sign-in.
 */
export interface SsoDirectory {
  findUserBySubject(issuer: string, subject: string): Promise<SsoUser | null>;
  createUser(user: NewSsoUser): Promise<SsoUser>;
  updateUser(id: string, patch: SsoUserPatch): Promise<SsoUser>;
  /** Replaces the user's teams with these (created as needed). */
  setTeams(userId: string, teams: string[]): Promise<void>;
}

/**
 * The bridge user behind a sign-in. The first sign-in of an issuer + subject creates a user
 * (the identity's username, or the first free of `alice-2`, `alice-3` …); every sign-in sets
 * name, e-mail, role and teams from the provider. A user who exists only by username is never
 * taken over: a person named `admin` at the provider becomes `admin-2`, not the bridge's
 * owner. A disabled or deleted user is refused (OidcError) and left unchanged.
 */
export async function signInUser(
  directory: SsoDirectory,
  identity: SsoIdentity,
  log?: Logger,
): Promise<{ user: SsoUser; created: boolean }> {
  let user = await directory.findUserBySubject(identity.issuer, identity.subject);
  let created = false;
  if (!user) ({ user, created } = await create(directory, identity, log));
  if (user.deleted) throw new OidcError('user_deleted', `user ${user.id}`);
  if (user.disabled) throw new OidcError('user_disabled', `user ${user.id}`);
  if (!created) {
    const patch: SsoUserPatch = {};
    if (user.name !== identity.name) patch.name = identity.name;
    if (user.email !== identity.email) patch.email = identity.email;
    if (user.role !== identity.role) patch.role = identity.role;
    if (Object.keys(patch).length) {
      if (patch.role) log?.info({ user: user.id, from: user.role, to: patch.role }, 'single sign-on changed a role');
      user = await directory.updateUser(user.id, patch);
    }
  }
  await directory.setTeams(user.id, identity.groups);
  return { user, created };
}

async function create(
  directory: SsoDirectory,
  identity: SsoIdentity,
  log?: Logger,
): Promise<{ user: SsoUser; created: boolean }> {
  const { issuer, subject, name, email, role } = identity;
  for (const username of usernameCandidates(identity.username)) {
    try {
      const user = await directory.createUser({ username, name, email, role, issuer, subject });
      if (username !== identity.username) {
        log?.info({ username, wanted: identity.username, subject }, 'single sign-on: username taken, another given');
      }
      log?.info({ user: user.id, username, role }, 'single sign-on created a user');
      return { user, created: true };
    } catch (err) {
      if (err instanceof UsernameTaken) continue;
      if (!(err instanceof SubjectTaken)) throw err;
      // Another sign-in of the same person created it a moment ago.
      const existing = await directory.findUserBySubject(issuer, subject);
      if (existing) return { user: existing, created: false };
      throw err;
    }
  }
  throw new Error(`no free username for "${identity.username}"`);
}
