import { createHash } from 'node:crypto';
import { DuplicateError, type Store, type UserDoc, type UserPatch } from '../store/store.ts';
import { OidcError } from './oidc/errors.ts';
import {
  type NewSsoUser,
  type SsoDirectory,
  type SsoUser,
  type SsoUserPatch,
  SubjectTaken,
  UsernameTaken,
} from './oidc/provision.ts';
import type { Teams } from './teams.ts';

/**
 * The id of the bridge user behind an issuer and subject: a UUID made from their hash, so a
 * person has one user whatever the number of replicas signing them in at once — two first
 * sign-ins meet on the insert of one _id, the one unique key every store makes atomic.
 */
export function ssoUserId(issuer: string, subject: string): string {
  const hex = createHash('sha256').update(`${issuer}\n${subject}`).digest('hex');
  // RFC 9562 version 8 (custom) with the RFC variant bits.
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const toSsoUser = (u: UserDoc): SsoUser => ({
  id: u._id,
  username: u.username,
  name: u.name,
  email: u.email ?? null,
  role: u.role,
  disabled: u.disabled_at !== null,
  deleted: u.deleted_at !== null,
});

/** Single sign-on's view of the store's users and teams (identity/oidc/provision.ts signs people in through it). */
export class StoreDirectory implements SsoDirectory {
  readonly #store: Store;
  readonly #teams: Teams;
  readonly #onSkipped: (groups: string[]) => void;

  constructor(store: Store, teams: Teams, options: { onSkippedGroups?: (groups: string[]) => void } = {}) {
    this.#store = store;
    this.#teams = teams;
    this.#onSkipped = options.onSkippedGroups ?? (() => {});
  }

  async findUserBySubject(issuer: string, subject: string): Promise<SsoUser | null> {
    const user = await this.#store.identity.userById(ssoUserId(issuer, subject));
    if (!user || user.sso?.issuer !== issuer || user.sso.subject !== subject) return null;
    return toSsoUser(user);
  }

  async createUser(wanted: NewSsoUser): Promise<SsoUser> {
    const user: UserDoc = {
      _id: ssoUserId(wanted.issuer, wanted.subject),
      username: wanted.username,
      name: wanted.name,
      role: wanted.role,
      created_at: new Date(),
      disabled_at: null,
      deleted_at: null,
      budget: null,
      denied_servers: [],
      sso: { issuer: wanted.issuer, subject: wanted.subject },
      email: wanted.email,
    };
    try {
      await this.#store.identity.createUser(user);
    } catch (err) {
      if (!(err instanceof DuplicateError)) throw err;
      // Which unique key it met: the person's own id (a concurrent first sign-in), else the username.
      if (await this.#store.identity.userById(user._id)) throw new SubjectTaken();
      throw new UsernameTaken();
    }
    return toSsoUser(user);
  }

  async updateUser(id: string, patch: SsoUserPatch): Promise<SsoUser> {
    const user = await this.#store.identity.userById(id);
    if (!user) throw new Error(`no user ${id}`);
    const change: UserPatch = { ...patch };
    // The store decides the last-owner rule in the same atomic step as the write.
    const outcome = await this.#store.identity.updateUser(id, change);
    if (outcome === 'last-owner') throw new OidcError('last_owner', `user ${id}`);
    if (outcome === 'no-user') throw new Error(`no user ${id}`);
    return toSsoUser({ ...user, ...change });
  }

  async setTeams(userId: string, teams: string[]): Promise<void> {
    const { skipped } = await this.#teams.syncFromGroups(userId, teams);
    if (skipped.length) this.#onSkipped(skipped);
  }
}
