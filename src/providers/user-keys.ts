import { randomUUID } from 'node:crypto';
import { credentialsKeyFromEnv, seal, unseal } from '../identity/sealing.ts';
import type { ProviderKeyStore } from '../store/store.ts';

/** What anyone may see of a stored key: whose, for which provider, when. Never the key. */
export interface UserKeyInfo {
  user_id: string;
  provider: string;
  created_at: Date;
  updated_at: Date;
}

/** Why a key cannot be stored as given. */
export class UserKeyError extends Error {}

export const USER_KEYS_PURPOSE = "users' own provider keys";

/** Longer than any provider's key; a key goes upstream as one header value. */
const MAX_KEY_CHARS = 4_096;

interface Cached {
  key: string | undefined;
  at: number;
}

export interface UserKeysOptions {
  /** The sealing key; read from AIBRIDGE_CREDENTIALS_KEY when first needed otherwise. */
  key?: Buffer;
  /** How long a looked-up key is reused before the store is asked again (a change on another replica shows within it). */
  ttlMs?: number;
  maxEntries?: number;
  /** A stored key that cannot be opened (the sealing key changed): reported, and treated as none. */
  onUnreadable?(userId: string, provider: string, err: Error): void;
}

/**
 * Users' own provider keys (README "Bring your own key"), sealed with AES-256-GCM under
 * AIBRIDGE_CREDENTIALS_KEY, the user id and provider bound in, so a sealed value copied onto
 * another row does not open. Keys go in and are sent upstream; nothing here hands one back to
 * a person. Looked-up keys are kept for a few seconds, so a request does not wait on the store.
 */
export class UserKeys {
  readonly #docs: ProviderKeyStore;
  readonly #sealingKey: () => Buffer;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #onUnreadable: NonNullable<UserKeysOptions['onUnreadable']>;
  readonly #cache = new Map<string, Cached>();

  constructor(docs: ProviderKeyStore, options: UserKeysOptions = {}) {
    this.#docs = docs;
    let cached = options.key;
    this.#sealingKey = () => {
      cached ??= credentialsKeyFromEnv(process.env, USER_KEYS_PURPOSE);
      return cached;
    };
    this.#ttlMs = options.ttlMs ?? 4_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#onUnreadable = options.onUnreadable ?? (() => {});
  }

  /** Checks now that keys can be sealed and opened (start-up, when a provider takes users' keys). */
  ensureSealingKey(): void {
    this.#sealingKey();
  }

  async set(userId: string, provider: string, key: string): Promise<void> {
    const value = key.trim();
    if (!value) throw new UserKeyError('the key is empty');
    if (value.length > MAX_KEY_CHARS) throw new UserKeyError(`the key is longer than ${MAX_KEY_CHARS} characters`);
    if (!/^[\x21-\x7e]+$/.test(value)) throw new UserKeyError('the key has spaces or characters a header cannot carry');
    // A bridge token must never be sent upstream (README "Security").
    if (value.startsWith('aib_')) throw new UserKeyError('that is an AI Bridge token, not a key of the provider');
    const now = new Date();
    await this.#docs.upsert({
      _id: randomUUID(),
      user_id: userId,
      provider,
      key_enc: seal(this.#sealingKey(), aad(userId, provider), value),
      created_at: now,
      updated_at: now,
    });
    this.#cache.delete(cacheKey(userId, provider));
  }

  async delete(userId: string, provider: string): Promise<boolean> {
    const deleted = await this.#docs.delete(userId, provider);
    this.#cache.delete(cacheKey(userId, provider));
    return deleted;
  }

  /** Providers and dates only, never keys. */
  async list(userId?: string): Promise<UserKeyInfo[]> {
    return (await this.#docs.list(userId)).map(({ user_id, provider, created_at, updated_at }) => ({
      user_id,
      provider,
      created_at,
      updated_at,
    }));
  }

  /** The user's own key for a provider, or undefined when they stored none (or it cannot be opened). */
  async key(userId: string, provider: string): Promise<string | undefined> {
    const id = cacheKey(userId, provider);
    const known = this.#cache.get(id);
    if (known && Date.now() - known.at < this.#ttlMs) return known.key;
    const doc = await this.#docs.get(userId, provider);
    let key: string | undefined;
    if (doc) {
      try {
        key = unseal(this.#sealingKey(), aad(userId, provider), doc.key_enc);
      } catch (err) {
        this.#onUnreadable(userId, provider, err as Error);
      }
    }
    this.#cache.delete(id);
    this.#cache.set(id, { key, at: Date.now() });
    if (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    return key;
  }
}

const aad = (userId: string, provider: string) => `provider-key\0${userId}\0${provider}`;
const cacheKey = (userId: string, provider: string) => `${userId}\0${provider}`;
