import type { IncomingHttpHeaders } from 'node:http';
import { hashToken, type Principal, type Users } from './users.ts';

interface Entry {
  principal: Principal | null;
  until: number;
}

/** Reads the session token from any of the headers clients are known to use. */
export function tokenFrom(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    if (match) return match[1]?.trim();
  }
  const apiKey = headers['x-api-key'] ?? headers['coder-session-token'];
  return typeof apiKey === 'string' && apiKey ? apiKey.trim() : undefined;
}

/**
 * Token → principal, with a short-lived cache keyed by the token's hash so the hot
 * path does not wait on MongoDB; concurrent misses for one token share one lookup.
 */
export class Authenticator {
  readonly #users: Users;
  readonly #cache = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Principal | null>>();
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;

  constructor(users: Users, options: { ttlMs?: number; negativeTtlMs?: number; maxEntries?: number } = {}) {
    this.#users = users;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 2_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  async authenticate(token: string | undefined): Promise<Principal | null> {
    if (!token) return null;
    const hash = hashToken(token);
    const cached = this.#cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.principal;
    let pending = this.#pending.get(hash);
    if (!pending) {
      pending = this.#users.verify(token).finally(() => this.#pending.delete(hash));
      this.#pending.set(hash, pending);
    }
    const principal = await pending;
    if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(hash, { principal, until: Date.now() + (principal ? this.#ttlMs : this.#negativeTtlMs) });
    return principal;
  }
}
