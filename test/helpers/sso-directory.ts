import { randomUUID } from 'node:crypto';
import {
  type NewSsoUser,
  type SsoDirectory,
  type SsoUser,
  type SsoUserPatch,
  SubjectTaken,
  UsernameTaken,
} from '../../src/identity/oidc/provision.ts';

/**
 * The single sign-on directory in memory, with the store's rules: usernames unique
 * case-insensitively (deleted users keep theirs), one user per issuer + subject, each check
 * and write atomic. Every call yields first, so concurrent sign-ins interleave as they would
 * against a database.
 */
export class MemoryDirectory implements SsoDirectory {
  readonly users = new Map<string, SsoUser & { issuer?: string; subject?: string }>();
  readonly teams = new Map<string, string[]>();
  calls = 0;

  /** A user who exists without single sign-on (made with `aibridge users create`). */
  addLocalUser(username: string, role: SsoUser['role'] = 'member'): SsoUser {
    const user = { id: randomUUID(), username, name: username, email: null, role, disabled: false, deleted: false };
    this.users.set(user.id, user);
    return user;
  }

  async findUserBySubject(issuer: string, subject: string): Promise<SsoUser | null> {
    await this.#turn();
    for (const user of this.users.values()) if (user.issuer === issuer && user.subject === subject) return { ...user };
    return null;
  }

  async createUser(wanted: NewSsoUser): Promise<SsoUser> {
    await this.#turn();
    for (const user of this.users.values()) {
      if (user.issuer === wanted.issuer && user.subject === wanted.subject) throw new SubjectTaken();
      if (user.username.toLowerCase() === wanted.username.toLowerCase()) throw new UsernameTaken();
    }
    const user = { id: randomUUID(), ...wanted, disabled: false, deleted: false };
    this.users.set(user.id, user);
    return { ...user };
  }

  async updateUser(id: string, patch: SsoUserPatch): Promise<SsoUser> {
    await this.#turn();
    const user = this.users.get(id);
    if (!user) throw new Error(`no user ${id}`);
    Object.assign(user, patch);
    return { ...user };
  }

  async setTeams(userId: string, teams: string[]): Promise<void> {
    await this.#turn();
    this.teams.set(userId, [...teams]);
  }

  byUsername(username: string): SsoUser | undefined {
    return [...this.users.values()].find((u) => u.username === username);
  }

  async #turn(): Promise<void> {
    this.calls++;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
