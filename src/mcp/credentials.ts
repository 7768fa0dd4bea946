import { randomUUID } from 'node:crypto';
import { CREDENTIALS_KEY_ENV, CredentialsKeyError, credentialsKeyFromEnv, seal, unseal } from '../identity/sealing.ts';
import type { CredentialDoc, CredentialStore } from '../store/store.ts';

export { CREDENTIALS_KEY_ENV, CredentialsKeyError, credentialsKeyFromEnv } from '../identity/sealing.ts';

export interface CredentialInfo {
  user_id: string;
  server: string;
  header_names: string[];
  created_at: Date;
  updated_at: Date;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses "Name: value" (as given to --header); the value may itself contain colons. */
export function parseHeader(line: string): [string, string] {
  const at = line.indexOf(':');
  const name = at > 0 ? line.slice(0, at).trim() : '';
  if (!HEADER_NAME.test(name)) throw new Error('a header must look like "Name: value"');
  const value = line.slice(at + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new Error(`header "${name}" has a line break or NUL in its value`);
  return [name, value];
}

/**
 * Per-user MCP headers in mcp_credentials, sealed with AES-256-GCM. The user id and server
 * are the associated data, so a sealed value copied onto another row does not open.
 */
export class McpCredentials {
  readonly #docs: CredentialStore;
  readonly #key: () => Buffer;

  /** The key is read lazily (listing names needs none); pass it for tests. */
  constructor(docs: CredentialStore, key?: Buffer) {
    this.#docs = docs;
    let cached = key;
    this.#key = () => {
      cached ??= credentialsKeyFromEnv();
      return cached;
    };
  }

  async set(userId: string, server: string, headers: Record<string, string>): Promise<void> {
    const names = Object.keys(headers);
    if (names.length === 0) throw new Error('at least one header is needed');
    const now = new Date();
    await this.#docs.upsert({
      _id: randomUUID(),
      user_id: userId,
      server,
      header_names: names,
      headers_enc: this.#seal(userId, server, headers),
      created_at: now,
      updated_at: now,
    });
  }

  async get(userId: string, server: string): Promise<Record<string, string> | null> {
    const doc = await this.#docs.get(userId, server);
    return doc ? this.#open(doc) : null;
  }

  /** Every server's headers for one user, by server name; one that cannot be opened is skipped and reported. */
  async forUser(
    userId: string,
    onError: (server: string, err: Error) => void = () => {},
  ): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (const doc of await this.#docs.list(userId)) {
      try {
        out.set(doc.server, this.#open(doc));
      } catch (err) {
        onError(doc.server, err as Error);
      }
    }
    return out;
  }

  /** A cheap fingerprint of a user's stored credentials, to notice changes made elsewhere. */
  async version(userId: string): Promise<string> {
    return (await this.#docs.list(userId)).map((d) => `${d.server}@${d.updated_at.getTime()}`).join(',');
  }

  delete(userId: string, server: string): Promise<boolean> {
    return this.#docs.delete(userId, server);
  }

  /** Names and dates only, never values. */
  async list(userId?: string): Promise<CredentialInfo[]> {
    return (await this.#docs.list(userId)).map(({ user_id, server, header_names, created_at, updated_at }) => ({
      user_id,
      server,
      header_names,
      created_at,
      updated_at,
    }));
  }

  #seal(userId: string, server: string, headers: Record<string, string>): string {
    return seal(this.#key(), `${userId}\0${server}`, JSON.stringify(headers));
  }

  #open(doc: CredentialDoc): Record<string, string> {
    const [version, iv, tag, body] = doc.headers_enc.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) {
      throw new Error(`MCP credential of user ${doc.user_id} for "${doc.server}" is malformed`);
    }
    try {
      return JSON.parse(unseal(this.#key(), `${doc.user_id}\0${doc.server}`, doc.headers_enc)) as Record<
        string,
        string
      >;
    } catch (err) {
      if (err instanceof CredentialsKeyError) throw err;
      throw new Error(
        `cannot decrypt the MCP credential of user ${doc.user_id} for "${doc.server}" (was ${CREDENTIALS_KEY_ENV} changed?)`,
      );
    }
  }
}
