import { AuthorizationResponseError, ClientError, ResponseBodyError } from 'openid-client';

/** Why a sign-in failed, as a caller branches on it (the HTTP status, what to tell the person). */
export type OidcErrorCode =
  /** The provider could not be reached, or answered with a server error or nonsense. */
  | 'provider_unavailable'
  /** The callback's `state` is not the one this sign-in started with (a forged or crossed callback). */
  | 'state_mismatch'
  /** The provider sent the person back with an error instead of a code (they declined, or it refused). */
  | 'authorization_refused'
  /** The token endpoint refused the code or device code: wrong, expired or already used. */
  | 'code_rejected'
  /** The ID token failed validation: signature, issuer, audience, expiry, nonce. */
  | 'invalid_id_token'
  /** Device flow: the person declined on the provider's page. */
  | 'access_denied'
  /** Device flow: the code expired before the person approved it. */
  | 'expired'
  /** The person is in none of `auth.oidc.allowed_groups`. */
  | 'not_allowed'
  /** The claims cannot make an identity (no subject). */
  | 'invalid_claims'
  /** The bridge user of this person is disabled. */
  | 'user_disabled'
  /** The bridge user of this person was deleted; their username stays reserved. */
  | 'user_deleted'
  /** The groups would demote the bridge's last enabled owner: someone must be able to undo changes. */
  | 'last_owner'
  /** Anything else the provider said no to (its client settings, an unsupported request). */
  | 'provider_error';

const MESSAGES: Record<OidcErrorCode, string> = {
  provider_unavailable: 'the identity provider cannot be reached right now; try again shortly',
  state_mismatch: 'this sign-in response does not belong to a sign-in started here; start again',
  authorization_refused: 'the identity provider did not authorise the sign-in',
  code_rejected: 'the identity provider refused the sign-in code (wrong, expired or already used); start again',
  invalid_id_token: "the identity provider's ID token failed validation",
  access_denied: 'the sign-in was declined',
  expired: 'the sign-in code expired before it was approved; start again',
  not_allowed: 'your account is not in a group allowed to use this bridge',
  invalid_claims: 'the identity provider did not say who signed in',
  user_disabled: 'your bridge account is disabled; ask an owner',
  user_deleted: 'your bridge account was deleted; ask an owner',
  last_owner:
    "you are the bridge's last owner and your groups no longer make you one; make another owner first, or restore your group at the identity provider",
  provider_error: 'the identity provider refused the request',
};

/**
 * A sign-in failure with a message safe to show anyone: it never carries a code, token,
 * secret or claim value. `reason` says more for the operator's log (a library error code or a
 * provider's OAuth error code), also free of secrets.
 */
export class OidcError extends Error {
  readonly code: OidcErrorCode;
  readonly reason: string | undefined;
  constructor(code: OidcErrorCode, reason?: string) {
    super(MESSAGES[code]);
    this.name = 'OidcError';
    this.code = code;
    this.reason = reason;
  }
}

/** An OAuth error code as providers send it; anything else is not repeated. */
const oauthCode = (value: unknown) => (typeof value === 'string' && /^[\w.-]{1,64}$/.test(value) ? value : 'unknown');

/** Library codes of checks on the ID token's content (oauth4webapi's names). */
const ID_TOKEN_CHECKS = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
]);
const UNREACHABLE = new Set([
  'OAUTH_TIMEOUT',
  'OAUTH_ABORT',
  'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_RESPONSE_IS_NOT_JSON',
  'OAUTH_INVALID_SERVER_METADATA',
  'OAUTH_MISSING_SERVER_METADATA',
]);

/** Maps anything openid-client (or fetch under it) throws to an OidcError. */
export function toOidcError(err: unknown): OidcError {
  if (err instanceof OidcError) return err;
  if (err instanceof ResponseBodyError) {
    if (err.status >= 500) return new OidcError('provider_unavailable', `status ${err.status}`);
    switch (err.error) {
      case 'invalid_grant':
        return new OidcError('code_rejected', 'invalid_grant');
      case 'access_denied':
        return new OidcError('access_denied', 'access_denied');
      case 'expired_token':
        return new OidcError('expired', 'expired_token');
      default:
        return new OidcError('provider_error', oauthCode(err.error));
    }
  }
  if (err instanceof AuthorizationResponseError) return new OidcError('authorization_refused', oauthCode(err.error));
  if (err instanceof ClientError) {
    const code = err.code ?? 'unknown';
    const detail = (err.cause as Error | undefined)?.message ?? err.message;
    if (ID_TOKEN_CHECKS.has(code)) return new OidcError('invalid_id_token', `${code}: ${detail}`);
    // A bad JWS signature is reported as an invalid response; so is a malformed JWT.
    if (code === 'OAUTH_INVALID_RESPONSE' && /JWT|ID Token|id_token/i.test(detail))
      return new OidcError('invalid_id_token', `${code}: ${detail}`);
    if (UNREACHABLE.has(code)) return new OidcError('provider_unavailable', code);
    return new OidcError('provider_error', `${code}: ${detail}`);
  }
  // fetch's own failures (refused connection, DNS) are TypeErrors.
  if (err instanceof TypeError) {
    const cause = (err.cause as { code?: string } | undefined)?.code;
    return new OidcError('provider_unavailable', cause ?? err.message);
  }
  return new OidcError('provider_error', (err as Error)?.name ?? 'unknown');
}
