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
  type UserPatch,
} from '../store/store.ts';

/** Tokens of users the identity provider manages expire within this (leaving a group there ends none). */
export const SSO_TOKEN_MAX_DAYS = 90;

export { ROLES, type Role };
export type User = UserDoc;

export interface Principal {
  user: User;
  apiKeyId: string;
  /** The token's own record (its name, kind and expiry). */
  key: ApiKeyDoc;
}

/** Why an identity change was refused: each maps to its own answer (400, 409, 404; the CLI exits 1). */
export type IdentityRefusal = 'invalid' | 'taken' | 'unknown' | 'last-owner';

/** A refusal an admin can act on (bad name, unknown user, taken username, the last owner). */
export class IdentityError extends Error {
  readonly reason: IdentityRefusal;
  constructor(message: string, reason: IdentityRefusal = 'invalid') {
    super(message);
    this.reason = reason;
  }
}

/** A user's or a team's budget is a number of USD, at least 0 ($0 allows no spend); null removes it. */
export function refuseBadBudget(budget: Budget | null | undefined): void {
  if (budget && !(Number.isFinite(budget.usd) && budget.usd >= 0)) {
    throw new IdentityError('a budget must be a number of USD, at least 0');
  }
}

export const USERNAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
/** Ids are UUIDs; a username shaped like one could be read as another user's id. */
const ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const looksLikeId = (text: string) => ID_SHAPE.test(text);
export const LAST_OWNER = 'refused: this would leave no enabled owner';
const TOKEN_PREFIX = 'aib_';

/**
 * Why a username cannot be used, or null. `me` (in any case: usernames are unique regardless of
 * it) names the caller in the API and the audit filter; a UUID-shaped one could be taken for
 * another user's id. For every way a username is set: creating a user or renaming one.
 */
export function usernameProblem(username: string): string | null {
  if (!USERNAME_PATTERN.test(username)) return `username "${username}" must be 1-64 letters, digits, ".", "_" or "-"`;
  if (username.toLowerCase() === 'me') {
    return `"${username}" is reserved: it names the caller in the API; choose another username`;
  }
  if (looksLikeId(username)) {
    return `username "${username}" is shaped like a user id, which could name another user; choose another username`;
  }
  return null;
}

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

/** Users and their tokens (README "Users and tokens"), over the store's identity collections. */
export class Users {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }

  get #identity() {
    return this.#store.identity;
  }

  async create(username: string, options: { name?: string; role?: Role } = {}): Promise<User> {
    const problem = usernameProblem(username);
    if (problem) throw new IdentityError(problem);
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
      throw new IdentityError(await this.#taken(username), 'taken');
    }
    return user;
  }

  /** Names the user who holds a username (in any case), and why a deleted one's stays taken. */
  async #taken(username: string): Promise<string> {
    const holder = await this.#identity.userByUsername(username);
    const name = holder?.username ?? username;
    const anyCase = name === username ? '' : ' (usernames are unique regardless of case)';
    return holder?.deleted_at
      ? `user "${name}" was deleted on ${holder.deleted_at.toISOString().slice(0, 10)}; usernames of deleted users stay reserved so their records stay unambiguous${anyCase}`
      : `user "${name}" already exists${anyCase}`;
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

  /**
   * Finds a user by id when the text is shaped like one, else by username (exact, or in another
   * case): usernames never look like ids, so one text never names two users.
   */
  resolve(idOrUsername: string): Promise<User | null> {
    return looksLikeId(idOrUsername) ? this.byId(idOrUsername) : this.byUsername(idOrUsername);
  }

  /** Like resolve, but a missing or deleted user is an IdentityError naming it. */
  async require(idOrUsername: string): Promise<User> {
    const user = await this.resolve(idOrUsername);
    if (!user || user.deleted_at) throw new IdentityError(`no user "${idOrUsername}"`, 'unknown');
    return user;
  }

  /**
   * Issues a token; only its hash is stored, so this is the one time it can be seen. A user the
   * identity provider manages gets one that expires within SSO_TOKEN_MAX_DAYS, whatever was asked:
   * leaving a group there ends no token already issued.
   */
  async createToken(
    userId: string,
    options: { name?: string; expiresAt?: Date | null; kind?: ApiKeyKind; sso?: boolean; openedWith?: string } = {},
  ): Promise<{ token: string; apiKeyId: string; key: ApiKeyDoc }> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    let expiresAt = options.expiresAt ?? null;
    const ssoLimit = Date.now() + SSO_TOKEN_MAX_DAYS * 86_400_000;
    if ((!expiresAt || expiresAt.getTime() > ssoLimit) && (await this.byId(userId))?.sso)
      expiresAt = new Date(ssoLimit);
    const key: ApiKeyDoc = {
      _id: randomUUID(),
      user_id: userId,
      hash: hashToken(token),
      name: options.name ?? '',
      kind: options.kind ?? 'api',
      created_at: new Date(),
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      ...(options.sso ? { sso: true } : {}),
      ...(options.openedWith ? { opened_with: options.openedWith } : {}),
    };
    await this.#identity.createKey(key);
    return { token, apiKeyId: key._id, key };
  }

  /**
   * A user's tokens (everyone's without an id), oldest first: their API tokens, revoked and
   * expired ones included, and their console sessions while they last (README "Users and tokens").
   */
  async tokens(userId?: string, now = Date.now()): Promise<ApiKeyDoc[]> {
    return (await this.#identity.keys(userId)).filter((k) => k.kind === 'api' || (!k.revoked_at && !ended(k, now)));
  }

  token(id: string): Promise<ApiKeyDoc | null> {
    return this.#identity.keyById(id);
  }

  /**
   * False when it was already revoked or does not exist. Console sessions opened with it end
   * with it: a leaked token revoked leaves its holder no session either.
   */
  async revokeToken(id: string): Promise<boolean> {
    const key = await this.#identity.keyById(id);
    if (!key) return false;
    const at = new Date();
    const revoked = (await this.#identity.revokeKeys([id], at)) === 1;
    const opened = (await this.#identity.keys(key.user_id))
      .filter((k) => k.opened_with === id && !k.revoked_at)
      .map((k) => k._id);
    if (opened.length) await this.#identity.revokeKeys(opened, at);
    return revoked;
  }

  /** The principal a token stands for, or null (unknown, revoked, expired, disabled, deleted). */
  async verify(token: string): Promise<Principal | null> {
    const key = await this.#identity.keyByHash(hashToken(token));
    if (!key) return null;
    const user = await this.byId(key.user_id);
    return refusal(key, user) === null ? { user: user as User, apiKeyId: key._id, key } : null;
  }

  /**
   * Changes a user. Demoting, disabling or deleting the last enabled owner is refused, in the
   * same atomic step as the write (IdentityError `last-owner`), so two owners demoting each
   * other at once cannot both succeed.
   */
  async update(idOrUsername: string, patch: UserPatch): Promise<User> {
    const user = await this.require(idOrUsername);
    const outcome = await this.#identity.updateUser(user._id, patch);
    if (outcome === 'no-user') throw new IdentityError(`no user "${idOrUsername}"`, 'unknown');
    if (outcome === 'last-owner') throw new IdentityError(LAST_OWNER, 'last-owner');
    return { ...user, ...patch };
  }

  setRole(idOrUsername: string, role: Role): Promise<User> {
    if (!ROLES.includes(role)) throw new IdentityError(`role must be one of ${ROLES.join(', ')}`);
    return this.update(idOrUsername, { role });
  }

  disable(idOrUsername: string): Promise<User> {
    return this.update(idOrUsername, { disabled_at: new Date() });
  }

  enable(idOrUsername: string): Promise<User> {
    return this.update(idOrUsername, { disabled_at: null });
  }

  /** A budget of $0 allows no spend; null returns the user to their role's default. */
  setBudget(idOrUsername: string, budget: Budget | null): Promise<User> {
    refuseBadBudget(budget);
    return this.update(idOrUsername, { budget });
  }

  /**
   * Deletes a user: marked deleted first (refused for the last enabled owner; from then on
   * every token of theirs is refused), then their tokens are revoked and their MCP credentials
   * and own provider keys removed. The user document stays so their records keep a name.
   */
  async delete(idOrUsername: string): Promise<User> {
    const now = new Date();
    const user = await this.update(idOrUsername, { deleted_at: now });
    const keys = await this.#identity.keys(user._id);
    await this.#identity.revokeKeys(
      keys.map((k) => k._id),
      now,
    );
    await this.#store.credentials.deleteForUser(user._id);
    await this.#store.providerKeys.deleteForUser(user._id);
    return user;
  }
}

/** A token past its expiry. */
const ended = (key: ApiKeyDoc, now: number) => key.expires_at !== null && key.expires_at.getTime() <= now;
