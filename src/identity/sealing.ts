import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** The key per-user secrets are sealed with: users' MCP headers and their own provider keys. */
export const CREDENTIALS_KEY_ENV = 'AIBRIDGE_CREDENTIALS_KEY';

export class CredentialsKeyError extends Error {}

/** Reads the 32-byte key (base64 or hex) from the environment; the error says what needs it and how to make one. */
export function credentialsKeyFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  purpose = 'per-user MCP credentials',
): Buffer {
  const raw = env[CREDENTIALS_KEY_ENV]?.trim();
  const how = `set ${CREDENTIALS_KEY_ENV} to 32 random bytes, base64 or hex (e.g. \`openssl rand -base64 32\`)`;
  if (!raw) throw new CredentialsKeyError(`${purpose} need an encryption key: ${how}`);
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new CredentialsKeyError(`${CREDENTIALS_KEY_ENV} is not 32 bytes: ${how}`);
  return key;
}

/**
 * Seals text with AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>`, base64. `aad` (whose secret it is,
 * for what) is bound in, so a sealed value copied onto another row does not open.
 */
export function seal(key: Buffer, aad: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
}

/** The text `seal` sealed; throws (without the text) when the value is malformed, altered or sealed under another key or aad. */
export function unseal(key: Buffer, aad: string, sealed: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('malformed sealed value');
  // The whole 16-byte tag, always: GCM would otherwise take a truncated one, far easier to forge.
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'), { authTagLength: 16 });
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
}
