import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { COLLECTIONS } from '../store/mongo.ts';

export const ROLES = ['owner', 'auditor', 'member'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  _id: string;
  username: string;
  name: string;
  role: Role;
  created_at: Date;
  /** MCP servers this user is never given, whatever their role allows. */
  denied_servers?: string[];
}

interface ApiKeyDoc {
  _id: string;
  user_id: string;
  hash: string;
  created_at: Date;
  expires_at: Date | null;
}

export interface Principal {
  user: User;
  apiKeyId: string;
}

export class IdentityError extends Error {}

export const USERNAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const TOKEN_PREFIX = 'aib_';

/** Tokens carry 32 random bytes, so a fast hash is as safe as a slow one and costs nothing per request. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export class Users {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  get #users() {
    return this.#db.collection<User>(COLLECTIONS.users);
  }
  get #keys() {
    return this.#db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async create(username: string, options: { name?: string; role?: Role } = {}): Promise<User> {
    if (!USERNAME_PATTERN.test(username)) {
      throw new IdentityError(`username "${username}" must be 1-64 letters, digits, ".", "_" or "-"`);
    }
    const role = options.role ?? 'member';
    if (!ROLES.includes(role)) throw new IdentityError(`role must be one of ${ROLES.join(', ')}`);
    const user: User = { _id: randomUUID(), username, name: options.name ?? username, role, created_at: new Date() };
    try {
      await this.#users.insertOne(user);
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw new IdentityError(`user "${username}" already exists`);
      throw err;
    }
    return user;
  }

  list(): Promise<User[]> {
    return this.#users.find({}, { sort: { username: 1 } }).toArray();
  }

  count(): Promise<number> {
    return this.#users.countDocuments({});
  }

  byUsername(username: string): Promise<User | null> {
    return this.#users.findOne({ username });
  }

  byId(id: string): Promise<User | null> {
    return this.#users.findOne({ _id: id });
  }

  /** Finds by id, then by username. */
  async resolve(idOrUsername: string): Promise<User | null> {
    return (await this.byId(idOrUsername)) ?? (await this.byUsername(idOrUsername));
  }

  /** Issues a token; only its hash is stored, so this is the one time it can be seen. */
  async createToken(userId: string, expiresAt: Date | null = null): Promise<{ token: string; apiKeyId: string }> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const apiKeyId = randomUUID();
    await this.#keys.insertOne({
      _id: apiKeyId,
      user_id: userId,
      hash: hashToken(token),
      created_at: new Date(),
      expires_at: expiresAt,
    });
    return { token, apiKeyId };
  }

  async verify(token: string): Promise<Principal | null> {
    const key = await this.#keys.findOne({ hash: hashToken(token) });
    if (!key || (key.expires_at && key.expires_at.getTime() <= Date.now())) return null;
    const user = await this.byId(key.user_id);
    return user ? { user, apiKeyId: key._id } : null;
  }
}
