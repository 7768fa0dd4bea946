import { readFile } from 'node:fs/promises';
import { type AuthClient, GoogleAuth, gaxios } from 'google-auth-library';
import type { BridgeErrorKind } from '../../errors.ts';
import { refreshing } from '../../refreshing.ts';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/**
 * Where Google's Node library sends every service-account assertion, whatever the key file's
 * `token_uri` says; it stays the assertion's audience, which is what Google checks behind a
 * private token endpoint too.
 */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** The credential settings of a `type: vertex` entry of `providers`. */
export interface GoogleTokenConfig {
  /** A credentials JSON file (service account or other); else Application Default Credentials. */
  credentials_file?: string;
}

/** No token could be had: `not_configured` (no or unusable credentials) or `upstream` (the token service failed). */
export class GoogleTokenError extends Error {
  readonly kind: BridgeErrorKind;
  constructor(kind: BridgeErrorKind, message: string) {
    super(message);
    this.name = 'GoogleTokenError';
    this.kind = kind;
  }
}

/**
 * A GoogleAuth for the config: the credentials file (or `GOOGLE_APPLICATION_CREDENTIALS`) if
 * any, else the rest of Application Default Credentials; a service account's `token_uri` is
 * honoured, which the library alone does not do.
 */
export async function createGoogleAuth(config: GoogleTokenConfig = {}): Promise<GoogleAuth> {
  const file = config.credentials_file || process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (!file) return new GoogleAuth({ scopes: CLOUD_PLATFORM_SCOPE });
  const json = await readCredentials(file);
  const tokenUri = json.type === 'service_account' && typeof json.token_uri === 'string' ? json.token_uri : undefined;
  const redirect = tokenUri && tokenUri !== GOOGLE_TOKEN_URL ? tokenEndpointRedirect(tokenUri) : undefined;
  return new GoogleAuth({
    credentials: json,
    scopes: CLOUD_PLATFORM_SCOPE,
    ...(redirect ? { clientOptions: { transporter: redirect } } : {}),
  });
}

/** OAuth access tokens for Vertex: cached, refreshed before expiry, one refresh shared by concurrent callers. */
export class GoogleTokenSource {
  readonly #config: GoogleTokenConfig;
  #client: Promise<AuthClient> | undefined;
  /** The access token, fetched again shortly before it expires. */
  readonly token: () => Promise<string> = refreshing(() => this.#fetch());

  constructor(config: GoogleTokenConfig = {}) {
    this.#config = config;
  }

  async #fetch(): Promise<{ value: string; expiresAt: number }> {
    this.#client ??= createGoogleAuth(this.#config).then((auth) => auth.getClient());
    let client: AuthClient;
    try {
      client = await this.#client;
    } catch (err) {
      this.#client = undefined; // a file fixed later is read again
      throw tokenError(err, 'not_configured');
    }
    const started = Date.now();
    let token: string | null | undefined;
    try {
      ({ token } = await client.getAccessToken());
    } catch (err) {
      throw tokenError(err, 'not_configured');
    }
    if (!token) throw new GoogleTokenError('upstream', 'Google returned no access token');
    // Without an expiry it is not kept: asked for again on the next call.
    return { value: token, expiresAt: client.credentials.expiry_date ?? started };
  }
}

async function readCredentials(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GoogleTokenError(
      'not_configured',
      `cannot read the Google credentials file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {}
  // Not the parser's message: it quotes the file, which holds a private key.
  throw new GoogleTokenError('not_configured', 'the Google credentials file is not a JSON object');
}

/**
 * A transporter that sends the library's token requests to the key file's `token_uri`. An
 * assertion is as good as a token for an hour, so it goes only over HTTPS (or to this machine).
 */
function tokenEndpointRedirect(tokenUri: string): gaxios.Gaxios {
  let target: URL;
  try {
    target = new URL(tokenUri);
  } catch {
    throw new GoogleTokenError('not_configured', 'the credentials file has an invalid token_uri');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && loopback)) {
    throw new GoogleTokenError('not_configured', 'the credentials file token_uri must be an https URL');
  }
  const transporter = new gaxios.Gaxios();
  transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(target);
      return options;
    },
  });
  return transporter;
}

const PEM = /-----BEGIN[^-]*-----[\s\S]*?(?:-----END[^-]*-----|$)/g;
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g;

/** A token failure that says what happened without the key, the assertion or the request. */
function tokenError(err: unknown, fallbackKind: BridgeErrorKind): GoogleTokenError {
  if (err instanceof GoogleTokenError) return err;
  const e = err as {
    message?: string;
    code?: string | number;
    status?: number;
    response?: { status?: number; data?: unknown };
  };
  const status = e?.response?.status ?? e?.status;
  if (typeof status === 'number') {
    const data = e.response?.data as { error?: unknown; error_description?: unknown } | undefined;
    const detail = [data?.error, data?.error_description].filter((part) => typeof part === 'string').join(': ');
    return new GoogleTokenError(
      'upstream',
      scrub(`Google token endpoint answered ${status}${detail ? `: ${detail}` : ''}`),
    );
  }
  const message = String(e?.message ?? err);
  if (/could not load the default credentials/i.test(message)) {
    return new GoogleTokenError('not_configured', 'no Google credentials found (Application Default Credentials)');
  }
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    return new GoogleTokenError('upstream', `Google token endpoint unreachable: ${e.code}`);
  }
  return new GoogleTokenError(fallbackKind, scrub(`Google credentials failed: ${message}`));
}

const scrub = (text: string): string => text.replace(PEM, '[redacted]').replace(JWT, '[redacted]').slice(0, 500);
