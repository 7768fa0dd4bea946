import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type ApiKeyDoc,
  type ApiKeyKind,
  type Budget,
  DuplicateError,
  ROLES,
  type Role,
  type Store,
  type UserDoc,
} from '../store/store.ts';

export { ROLES, type Role };
export type User = UserDoc;

export interface Principal {
  user: User;
  apiKeyId: string;
  /** The token's own record (its name, kind and expiry). */
  key: ApiKeyDoc;
}

/** A refusal an admin can act on (bad name, unknown user, taken username). */
export class IdentityError extends Error {}

export const USERNAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
/** `me` names the caller in the API and the audit filter: a user by that name could never be named. */
export const RESERVED_USERNAMES: readonly string[] = ['me'];
export const reservedUsername = (username: string) =>
  `"${username}" is reserved: it names the caller in the API; choose another username`;
const TOKEN_PREFIX = 'aib_';

/** Tokens carry 32 random bytes, so a fast hash is as safe as a slow one and costs nothing per request. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Why a token does not (or no longer) identify anyone; null when it does. */
export function refusal(key: ApiKeyDoc, user: User | null, now = Date.now()): string | null {
  if (key.revoked_at) return 'revoked';
  if (key.expires_at && key.expires_at.getTime() <= now) return 'expired';
  if (!user || user.deleted_at) return 'user deleted';
  if (user.disabled_at) return 'user disabled';
  return null;
}

/** Users and their tokens (SPEC §3), over the store's identity collections. */
export class Users {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }

  get #identity() {
    return this.#store.identity;
  }

  async create(username: string, options: { name?: string; role?: Role } = {}): Promise<User> {
    if (!USERNAME_PATTERN.test(username)) {
      throw new IdentityError(`username "${username}" must be 1-64 letters, digits, ".", "_" or "-"`);
    }
    if (RESERVED_USERNAMES.includes(username)) throw new IdentityError(reservedUsername(username));
    const role = options.role ?? 'member';
    if (!ROLES.includes(role)) throw new IdentityError(`role must be one of ${ROLES.join(', ')}`);
    const user: User = {
      _id: randomUUID(),
      username,
      name: options.name ?? username,
      role,
      created_at: new Date(),
      disabled_at: null,
      deleted_at: null,
      budget: null,
      denied_servers: [],
    };
    try {
      await this.#identity.createUser(user);
    } catch (err) {
      if (!(err instanceof DuplicateError)) throw err;
      const existing = await this.#identity.userByUsername(username);
      throw new IdentityError(
        existing?.deleted_at
          ? `user "${username}" was deleted on ${existing.deleted_at.toISOString().slice(0, 10)}; usernames of deleted users stay reserved so their records stay unambiguous`
          : `user "${username}" already exists`,
      );
    }
    return user;
  }

  list(options?: { includeDeleted?: boolean }): Promise<User[]> {
    return this.#identity.users(options);
  }

  count(): Promise<number> {
    return this.#identity.countUsers();
  }

  byUsername(username: string): Promise<User | null> {
    return this.#identity.userByUsername(username);
  }

  byId(id: string): Promise<User | null> {
    return this.#identity.userById(id);
  }

  /** Finds by id, then by username. */
  async resolve(idOrUsername: string): Promise<User | null> {
    return (await this.byId(idOrUsername)) ?? (await this.byUsername(idOrUsername));
  }

  /** Like resolve, but a missing or deleted user is an IdentityError naming it. */
  async require(idOrUsername: string): Promise<User> {
    const user = await this.resolve(idOrUsername);
    if (!user || user.deleted_at) throw new IdentityError(`no user "${idOrUsername}"`);
    return user;
  }

  /** Issues a token; only its hash is stored, so this is the one time it can be seen. */
  async createToken(
    userId: string,
    options: { name?: string; expiresAt?: Date | null; kind?: ApiKeyKind } = {},
  ): Promise<{ token: string; apiKeyId: string; key: ApiKeyDoc }> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const key: ApiKeyDoc = {
      _id: randomUUID(),
      user_id: userId,
      hash: hashToken(token),
      name: options.name ?? '',
      kind: options.kind ?? 'api',
      created_at: new Date(),
      expires_at: options.expiresAt ?? null,
      last_used_at: null,
      revoked_at: null,
    };
    await this.#identity.createKey(key);
    return { token, apiKeyId: key._id, key };
  }

  /** API tokens of a user (console sessions excluded), oldest first. */
  async tokens(userId?: string): Promise<ApiKeyDoc[]> {
    return (await this.#identity.keys(userId)).filter((k) => k.kind === 'api');
  }

  token(id: string): Promise<ApiKeyDoc | null> {
    return this.#identity.keyById(id);
  }

  /** False when it was already revoked or does not exist. */
  async revokeToken(id: string): Promise<boolean> {
    return (await this.#identity.revokeKeys([id], new Date())) === 1;
  }

  /** The principal a token stands for, or null (unknown, revoked, expired, disabled, deleted). */
  async verify(token: string): Promise<Principal | null> {
    const key = await this.#identity.keyByHash(hashToken(token));
    if (!key) return null;
    const user = await this.byId(key.user_id);
    return refusal(key, user) === null ? { user: user as User, apiKeyId: key._id, key } : null;
  }

  async #update(idOrUsername: string, patch: Parameters<Store['identity']['updateUser']>[1]): Promise<User> {
    const user = await this.require(idOrUsername);
    await this.#identity.updateUser(user._id, patch);
    return { ...user, ...patch };
  }

  setRole(idOrUsername: string, role: Role): Promise<User> {
    if (!ROLES.includes(role)) throw new IdentityError(`role must be one of ${ROLES.join(', ')}`);
    return this.#update(idOrUsername, { role });
  }

  disable(idOrUsername: string): Promise<User> {
    return this.#update(idOrUsername, { disabled_at: new Date() });
  }

  enable(idOrUsername: string): Promise<User> {
    return this.#update(idOrUsername, { disabled_at: null });
  }

  setBudget(idOrUsername: string, budget: Budget | null): Promise<User> {
    if (budget && !(Number.isFinite(budget.usd) && budget.usd > 0)) {
      throw new IdentityError('a budget must be a positive number of USD');
    }
    return this.#update(idOrUsername, { budget });
  }

  /**
   * Deletes a user: their tokens are revoked, their MCP credentials and own provider keys removed; the user
   * document stays (marked deleted) so their records keep a name.
   */
  async delete(idOrUsername: string): Promise<User> {
    const user = await this.require(idOrUsername);
    const now = new Date();
    const keys = await this.#identity.keys(user._id);
    await this.#identity.revokeKeys(
      keys.map((k) => k._id),
      now,
    );
    await this.#store.credentials.deleteForUser(user._id);
    await this.#store.providerKeys.deleteForUser(user._id);
    await this.#identity.updateUser(user._id, { deleted_at: now });
    return { ...user, deleted_at: now };
  }
}
