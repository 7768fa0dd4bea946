import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { ExitError } from './common.ts';

/**
 * Tokens `aibridge login` saved, one per bridge URL, in the user's config directory
 * (`$XDG_CONFIG_HOME/aibridge/credentials.json`, else `~/.config/aibridge/…`; `%APPDATA%`
 * on Windows). The directory is made 0700 and the file written 0600, whole, through a
 * temporary file, so a reader never sees half of it.
 */

export interface SavedCredential {
  token: string;
  token_id: string;
  name: string;
  username: string;
  expires_at: string;
  saved_at: string;
}

interface CredentialsFile {
  version: 1;
  bridges: Record<string, SavedCredential>;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  let base = join(homedir(), '.config');
  if (xdg && isAbsolute(xdg)) base = xdg;
  else if (process.platform === 'win32' && env.APPDATA) base = env.APPDATA;
  return join(base, 'aibridge', 'credentials.json');
}

/** One key per bridge: scheme, host, port and path, without a trailing slash. */
export function bridgeKey(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function read(path: string): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, bridges: {} };
    throw new ExitError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as CredentialsFile;
    if (parsed && typeof parsed.bridges === 'object' && parsed.bridges) return { version: 1, bridges: parsed.bridges };
  } catch {}
  throw new ExitError(`${path} is not a credentials file aibridge wrote; move it away and sign in again`);
}

/** Saves (or replaces) the token for a bridge; returns the file's path. */
export function saveCredential(url: string, credential: SavedCredential, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  const file = read(path);
  file.bridges[bridgeKey(url)] = credential;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    // `wx`: never through a file or link someone else put there.
    writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw new ExitError(`cannot save ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return path;
}

/** The saved, unexpired token for a bridge URL, if any: what API commands use without --token. */
export function savedToken(url: string, env: NodeJS.ProcessEnv = process.env, now = Date.now()): string | undefined {
  if (!URL.canParse(url)) return undefined;
  let saved: SavedCredential | undefined;
  try {
    saved = read(credentialsPath(env)).bridges[bridgeKey(url)];
  } catch {
    return undefined; // an unreadable file is reported when `aibridge login` writes it
  }
  if (!saved || typeof saved.token !== 'string') return undefined;
  const expires = Date.parse(saved.expires_at);
  return Number.isFinite(expires) && expires <= now ? undefined : saved.token;
}
