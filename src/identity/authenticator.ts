import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../observability/logger.ts';
import type { Store } from '../store/store.ts';
import { hashToken, type Principal, type Users } from './users.ts';

/**
 * Reads the session token from any of the headers clients are known to use, and on a provider's
 * routes from the headers its own SDKs send it in (`also`: Azure's `api-key`).
 */
export function tokenFrom(headers: IncomingHttpHeaders, also: readonly string[] = []): string | undefined {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    if (match) return match[1]?.trim();
  }
  for (const name of ['x-api-key', 'coder-session-token', ...also]) {
    const value = headers[name];
    if (typeof value === 'string' && value.trim()) return value.trim();
  }
  return undefined;
}

interface Known {
  principal: Principal;
  checkedAt: number;
}

interface AuthenticatorOptions {
  /** How long a verified token is trusted before the store is asked again (revocation delay). */
  ttlMs?: number;
  /** How long a refused token stays refused without asking. */
  negativeTtlMs?: number;
  /** While the store is unreachable, identities verified this recently keep being served. */
  outageGraceMs?: number;
  maxEntries?: number;
  /** How often last_used_at is written, for all tokens used meanwhile, in one batch. */
  touchIntervalMs?: number;
}

/** Bounded map in recency order: a hit moves to the end, the oldest goes first. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

/**
 * Token → principal, keyed by the token's hash, so the hot path rarely waits on the store.
 * Verified tokens are re-checked every `ttlMs` (4 s: a revoked, expired or disabled identity
 * is refused within 5 s on every replica); expiry is also checked on every hit. Refused
 * tokens live in a separate map, so a flood of bad tokens cannot push good ones out. While
 * the store is down, identities verified within `outageGraceMs` are still served and tokens
 * seen refused stay refused; only unknown tokens wait for the store (503).
 */
export class Authenticator {
  readonly #users: Users;
  readonly #store: Store;
  readonly #log: Logger | undefined;
  readonly #known = new Map<string, Known>();
  readonly #refused = new Map<string, number>();
  readonly #pending = new Map<string, Promise<Principal | null>>();
  readonly #used = new Map<string, Date>();
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #graceMs: number;
  readonly #maxEntries: number;
  readonly #touchTimer: NodeJS.Timeout;
  /** Counts forget()s: a lookup begun before one may have read what was just changed, and is not kept. */
  #generation = 0;

  constructor(users: Users, store: Store, options: AuthenticatorOptions = {}, log?: Logger) {
    this.#users = users;
    this.#store = store;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 4_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 2_000;
    this.#graceMs = options.outageGraceMs ?? 3_600_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#touchTimer = setInterval(() => void this.flushLastUsed(), options.touchIntervalMs ?? 60_000);
    this.#touchTimer.unref();
  }

  /** Null when the token identifies nobody; throws only when the store is unreachable and the token is unknown. */
  async authenticate(token: string | undefined): Promise<Principal | null> {
    if (!token) return null;
    const hash = hashToken(token);
    const now = Date.now();
    const known = this.#known.get(hash);
    if (known && now - known.checkedAt < this.#ttlMs) return this.#use(known.principal, now);
    const refusedAt = this.#refused.get(hash);
    if (refusedAt !== undefined && now - refusedAt < this.#negativeTtlMs) return null;

    let principal: Principal | null;
    const generation = this.#generation;
    try {
      principal = await this.#lookup(hash, token);
    } catch (err) {
      if (known && now - known.checkedAt < this.#graceMs) return this.#use(known.principal, now);
      if (refusedAt !== undefined) return null; // a revocation seen before still holds
      throw err;
    }
    if (generation !== this.#generation) return principal ? this.#use(principal, now) : null; // answers this request only
    if (principal) {
      this.#refused.delete(hash);
      remember(this.#known, hash, { principal, checkedAt: Date.now() }, this.#maxEntries);
      return this.#use(principal, now);
    }
    this.#known.delete(hash);
    remember(this.#refused, hash, Date.now(), this.#maxEntries);
    return null;
  }

  /** Concurrent misses for one token share one lookup. */
  #lookup(hash: string, token: string): Promise<Principal | null> {
    let pending = this.#pending.get(hash);
    if (!pending) {
      pending = this.#users.verify(token).finally(() => this.#pending.delete(hash));
      this.#pending.set(hash, pending);
    }
    return pending;
  }

  /** Expiry holds at once, even for a cached identity; use is noted for last_used_at. */
  #use(principal: Principal, now: number): Principal | null {
    const expires = principal.key.expires_at;
    if (expires && expires.getTime() <= now) return null;
    this.#used.set(principal.apiKeyId, new Date(now));
    return principal;
  }

  /** Forgets every cached identity (tests; an operator's change made through this process). */
  forget(): void {
    this.#generation++;
    this.#known.clear();
    this.#refused.clear();
    this.#pending.clear(); // requests from now on read the store afresh
  }

  /** Writes last_used_at for the tokens used since the last call, in one batch. */
  async flushLastUsed(): Promise<void> {
    if (!this.#used.size) return;
    const batch = [...this.#used];
    this.#used.clear();
    try {
      await this.#store.identity.touchKeys(batch);
    } catch (err) {
      for (const [id, at] of batch) if (!this.#used.has(id)) this.#used.set(id, at);
      this.#log?.warn({ err: (err as Error).message }, 'could not record when tokens were last used; will retry');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#touchTimer);
    await this.flushLastUsed();
  }
}
