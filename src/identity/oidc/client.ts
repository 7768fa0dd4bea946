import { timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { parseDuration } from '../../duration.ts';
import type { Logger } from '../../observability/logger.ts';
import type { OidcConfig } from './config.ts';
import { OidcError, toOidcError } from './errors.ts';
import { type Claims, claimAt } from './identity.ts';
import { isLoopbackUrl } from './loopback.ts';

/** What a browser sign-in must remember between sending the person away and their return. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The callback URL the provider was told; the token request names it again. */
  redirectUri: string;
}

export interface SignInStart extends PendingSignIn {
  /** Where to send the person's browser. */
  url: string;
}

export interface SignInResult {
  /** Validated ID token claims, completed from userinfo when the ID token lacked the groups or name claims. */
  claims: Claims;
  /** The raw ID token: the `id_token_hint` of a later sign-out. */
  idToken: string;
}

export type DevicePoll = { status: 'pending'; interval: number } | ({ status: 'done' } & SignInResult);

/** A device authorization in progress (RFC 8628): the person approves it on another screen. */
export interface DeviceLogin {
  device_code: string;
  user_code: string;
  verification_uri: string;
  /** The page with the code filled in; the plain page when the provider offers no such link. */
  verification_uri_complete: string;
  /** Seconds the code stays valid. */
  expires_in: number;
  /** Seconds to wait between polls. */
  interval: number;
  /** Polls at the provider's pace until approved, declined or expired. */
  poll(signal?: AbortSignal): Promise<SignInResult>;
}

export interface OidcClientOptions {
  /** Waits before each retry of a failed discovery (ms); its length is the number of retries. */
  retryDelaysMs?: number[];
  /** How long discovered metadata is used before it is read again. */
  metadataTtlMs?: number;
  /** Per request to the provider. */
  timeoutSeconds?: number;
  log?: Logger;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628: without an interval from the provider, clients wait 5 s; slow_down adds 5 s. */
const DEFAULT_INTERVAL = 5;
const SLOW_DOWN_STEP = 5;
/** After a failed refresh, the metadata in hand is used this long before the next try. */
const REFRESH_RETRY_MS = 60_000;

const wait = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * The bridge as an OpenID Connect relying party (openid-client): authorization code with PKCE
 * (S256), `state` and `nonce` for the console, the device authorization grant for the CLI, and
 * the provider's sign-out URL. ID token signatures are always checked against the provider's
 * keys, also on the back channel. Discovery is cached, shared by concurrent callers and
 * retried; a failure is never cached.
 */
export class OidcClient {
  readonly settings: OidcConfig;
  readonly #retryDelaysMs: number[];
  readonly #metadataTtlMs: number;
  readonly #timeoutSeconds: number;
  readonly #log: Logger | undefined;
  #current: { config: oidc.Configuration; at: number } | undefined;
  #discovering: Promise<oidc.Configuration> | undefined;

  constructor(settings: OidcConfig, options: OidcClientOptions = {}) {
    this.settings = settings;
    this.#retryDelaysMs = options.retryDelaysMs ?? [250, 1000];
    this.#metadataTtlMs = options.metadataTtlMs ?? 3_600_000;
    this.#timeoutSeconds = options.timeoutSeconds ?? 10;
    this.#log = options.log;
  }

  /** The discovered configuration; a stale one is refreshed, and kept when the refresh fails. */
  async #configuration(): Promise<oidc.Configuration> {
    const current = this.#current;
    if (current && Date.now() - current.at < this.#metadataTtlMs) return current.config;
    this.#discovering ??= this.#discover().finally(() => {
      this.#discovering = undefined;
    });
    try {
      return await this.#discovering;
    } catch (err) {
      if (!current) throw err;
      this.#log?.warn(
        { reason: (err as OidcError).reason },
        'could not refresh the identity provider metadata; using the last one',
      );
      // Asked again in a minute, not on every sign-in meanwhile.
      this.#current = { config: current.config, at: Date.now() - this.#metadataTtlMs + REFRESH_RETRY_MS };
      return current.config;
    }
  }

  async #discover(): Promise<oidc.Configuration> {
    const { issuer, client_id, client_secret, token_endpoint_auth_method, clock_tolerance } = this.settings;
    const server = new URL(issuer);
    // Plain HTTP only to a provider on this machine (a local IdP, tests); anything else must be TLS.
    const execute = [oidc.enableNonRepudiationChecks];
    if (server.protocol === 'http:' && isLoopbackUrl(server)) execute.unshift(oidc.allowInsecureRequests);
    const metadata: Partial<oidc.ClientMetadata> = {
      client_secret,
      [oidc.clockTolerance]: Math.round(parseDuration(clock_tolerance) / 1000),
    };
    const auth =
      token_endpoint_auth_method === 'client_secret_post'
        ? oidc.ClientSecretPost(client_secret)
        : oidc.ClientSecretBasic(client_secret);
    for (let attempt = 0; ; attempt++) {
      try {
        const config = await oidc.discovery(server, client_id, metadata, auth, {
          execute,
          timeout: this.#timeoutSeconds,
        });
        this.#current = { config, at: Date.now() };
        return config;
      } catch (err) {
        const failure = toOidcError(err);
        const delay = this.#retryDelaysMs[attempt];
        if (delay === undefined)
          throw new OidcError('provider_unavailable', `discovery: ${failure.reason ?? failure.code}`);
        this.#log?.warn(
          { reason: failure.reason, attempt: attempt + 1 },
          'identity provider discovery failed; retrying',
        );
        await wait(delay);
      }
    }
  }

  /** openid profile email, plus the groups claim's scope where the provider has one; `scopes` replaces them. */
  #scope(config: oidc.Configuration): string {
    const configured = this.settings.scopes;
    const scopes = configured?.length ? [...configured] : ['openid', 'profile', 'email'];
    const groups = this.settings.groups_claim;
    if (!configured?.length && config.serverMetadata().scopes_supported?.includes(groups)) scopes.push(groups);
    if (!scopes.includes('openid')) scopes.unshift('openid');
    return [...new Set(scopes)].join(' ');
  }

  /** Starts a browser sign-in: the URL to send the person to, and what to keep until they return. */
  async beginSignIn({ redirectUri }: { redirectUri: string }): Promise<SignInStart> {
    const config = await this.#configuration();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.#scope(config),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state, nonce, codeVerifier, redirectUri };
  }

  /**
   * Finishes a browser sign-in from the URL the provider sent the person back to: checks
   * `state`, redeems the code with the PKCE verifier, validates the ID token (signature,
   * issuer, audience, expiry within the clock tolerance, nonce). Throws OidcError.
   */
  async completeSignIn(callbackUrl: string | URL, pending: PendingSignIn): Promise<SignInResult> {
    const callback = new URL(callbackUrl);
    const state = callback.searchParams.get('state');
    if (state === null || !sameText(state, pending.state)) throw new OidcError('state_mismatch');
    // The provider's answer on the redirect URI it was given (a proxy may have rewritten the request's own URL).
    const current = new URL(pending.redirectUri);
    current.search = callback.search;
    current.hash = '';
    const config = await this.#configuration();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      return await this.#result(config, tokens);
    } catch (err) {
      throw toOidcError(err);
    }
  }

  /** Starts a device authorization at the provider (RFC 8628) for a CLI sign-in. */
  async startDeviceLogin(): Promise<DeviceLogin> {
    const config = await this.#configuration();
    let started: oidc.DeviceAuthorizationResponse;
    try {
      started = await oidc.initiateDeviceAuthorization(config, { scope: this.#scope(config) });
    } catch (err) {
      throw toOidcError(err);
    }
    const login = {
      device_code: started.device_code,
      user_code: started.user_code,
      verification_uri: started.verification_uri,
      verification_uri_complete: started.verification_uri_complete ?? started.verification_uri,
      expires_in: started.expires_in,
      interval: started.interval ?? DEFAULT_INTERVAL,
      poll: async (signal?: AbortSignal) => {
        const deadline = Date.now() + login.expires_in * 1000;
        let interval = login.interval;
        for (;;) {
          await wait(interval * 1000, signal);
          if (Date.now() >= deadline) throw new OidcError('expired', 'device code expired');
          const answer = await this.pollDeviceLogin(login.device_code, interval);
          if (answer.status === 'done') return { claims: answer.claims, idToken: answer.idToken };
          interval = answer.interval;
        }
      },
    };
    return login;
  }

  /**
   * One poll of a device authorization: pending (with the interval to keep, longer after a
   * `slow_down`), or done with validated claims. Declined, expired or already used: OidcError.
   */
  async pollDeviceLogin(deviceCode: string, interval = DEFAULT_INTERVAL): Promise<DevicePoll> {
    const config = await this.#configuration();
    try {
      const tokens = await oidc.genericGrantRequest(config, DEVICE_GRANT, { device_code: deviceCode });
      return { status: 'done', ...(await this.#result(config, tokens)) };
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError && err.error === 'authorization_pending')
        return { status: 'pending', interval };
      if (err instanceof oidc.ResponseBodyError && err.error === 'slow_down')
        return { status: 'pending', interval: interval + SLOW_DOWN_STEP };
      throw toOidcError(err);
    }
  }

  /**
   * The provider's sign-out URL, or undefined when it has no end_session_endpoint. Without an
   * ID token to hint with, the client id says whose post-logout address it is (RP-Initiated
   * Logout 1.0 allows either).
   */
  async logoutUrl(idTokenHint: string | undefined, postLogoutRedirectUri: string): Promise<string | undefined> {
    const config = await this.#configuration();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(config, {
      ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
      post_logout_redirect_uri: postLogoutRedirectUri,
    }).href;
  }

  /** The ID token's claims; userinfo fills in groups and names when the ID token left them out. */
  async #result(
    config: oidc.Configuration,
    tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  ): Promise<SignInResult> {
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new OidcError('invalid_id_token', 'no ID token in the token response');
    const { groups_claim, username_claim } = this.settings;
    const lacking =
      claimAt(claims, groups_claim) === undefined ||
      (username_claim ? claimAt(claims, username_claim) === undefined : !claims.preferred_username && !claims.email);
    if (!lacking || !config.serverMetadata().userinfo_endpoint) return { claims, idToken: tokens.id_token };
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    return { claims: { ...userinfo, ...claims }, idToken: tokens.id_token };
  }
}
