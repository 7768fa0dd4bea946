import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { CredentialDoc, CredentialStore } from '../store/store.ts';

export const CREDENTIALS_KEY_ENV = 'AIBRIDGE_CREDENTIALS_KEY';

export interface CredentialInfo {
  user_id: string;
  server: string;
  header_names: string[];
  created_at: Date;
  updated_at: Date;
}

export class CredentialsKeyError extends Error {}

/** Reads the 32-byte key (base64 or hex) from the environment; the error says how to make one. */
export function credentialsKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer {
  const raw = env[CREDENTIALS_KEY_ENV]?.trim();
  const how = `set ${CREDENTIALS_KEY_ENV} to 32 random bytes, base64 or hex (e.g. \`openssl rand -base64 32\`)`;
  if (!raw) throw new CredentialsKeyError(`per-user MCP credentials need an encryption key: ${how}`);
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new CredentialsKeyError(`${CREDENTIALS_KEY_ENV} is not 32 bytes: ${how}`);
  return key;
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
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key(), iv);
    cipher.setAAD(Buffer.from(`${userId}\0${server}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(headers), 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64')))
      .join('.');
  }

  #open(doc: CredentialDoc): Record<string, string> {
    const [version, iv, tag, body] = doc.headers_enc.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) {
      throw new Error(`MCP credential of user ${doc.user_id} for "${doc.server}" is malformed`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key(), Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(`${doc.user_id}\0${doc.server}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as Record<string, string>;
    } catch (err) {
      if (err instanceof CredentialsKeyError) throw err;
      throw new Error(
        `cannot decrypt the MCP credential of user ${doc.user_id} for "${doc.server}" (was ${CREDENTIALS_KEY_ENV} changed?)`,
      );
    }
  }
}
