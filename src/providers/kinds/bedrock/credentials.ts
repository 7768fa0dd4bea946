import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { BridgeErrorKind } from '../../errors.ts';

/** The credential settings of a `type: bedrock` entry of `providers`. */
export interface BedrockCredentialsConfig {
  region: string;
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  /** A profile of the shared AWS config and credentials files. */
  profile?: string;
  /** A role assumed, through STS, with the credentials above. */
  role_arn?: string;
  external_id?: string;
  session_name?: string;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working; absent for long-lived keys. */
  expiration?: Date;
}

export type AwsCredentialSource = () => Promise<AwsCredentials>;

/** Credentials could not be had: `not_configured` when none exist, `upstream` when STS or a metadata service failed. */
export class AwsCredentialsError extends Error {
  readonly kind: BridgeErrorKind;
  constructor(kind: BridgeErrorKind, message: string) {
    super(message);
    this.name = 'AwsCredentialsError';
    this.kind = kind;
  }
}

/** The AWS SDKs refresh this long before credentials expire, so a request signed now still lands in time. */
export const REFRESH_MARGIN_MS = 5 * 60_000;

const DEFAULT_SESSION_NAME = 'aibridge';

/**
 * Where a bedrock provider's credentials come from: the configured keys, else the standard AWS
 * chain (environment, shared profile, web identity, container and instance metadata); with
 * `role_arn`, a role assumed on top of them. Cached until shortly before they expire.
 */
export function bedrockCredentials(config: BedrockCredentialsConfig): AwsCredentialSource {
  const keyId = config.access_key_id?.trim();
  const secret = config.secret_access_key?.trim();
  if (Boolean(keyId) !== Boolean(secret)) {
    throw new Error('access_key_id and secret_access_key go together: set both or neither');
  }
  let base: AwsCredentialSource;
  if (keyId && secret) {
    const token = config.session_token?.trim();
    const fixed: AwsCredentials = {
      accessKeyId: keyId,
      secretAccessKey: secret,
      ...(token ? { sessionToken: token } : {}),
    };
    base = async () => fixed;
  } else {
    base = fromNodeProviderChain(config.profile ? { profile: config.profile } : {});
  }
  if (!config.role_arn) return cachedCredentials(base);
  const assumed = fromTemporaryCredentials({
    params: {
      RoleArn: config.role_arn,
      RoleSessionName: config.session_name || DEFAULT_SESSION_NAME,
      ...(config.external_id ? { ExternalId: config.external_id } : {}),
    },
    masterCredentials: cachedCredentials(base),
    clientConfig: { region: config.region },
  });
  return cachedCredentials(assumed);
}

/**
 * Remembers a source's credentials until `marginMs` before their `expiration`; concurrent callers
 * share one fetch, and a failed fetch is not remembered (the next call tries again).
 */
export function cachedCredentials(source: AwsCredentialSource, marginMs = REFRESH_MARGIN_MS): AwsCredentialSource {
  let current: AwsCredentials | undefined;
  let pending: Promise<AwsCredentials> | undefined;
  const fresh = (c: AwsCredentials) => !c.expiration || c.expiration.getTime() - marginMs > Date.now();
  return () => {
    if (current && fresh(current)) return Promise.resolve(current);
    pending ??= source()
      .then(
        (credentials) => {
          if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
            throw new AwsCredentialsError('upstream', 'the AWS credential source returned no keys');
          }
          current = credentials;
          return credentials;
        },
        (err: unknown) => {
          throw credentialsError(err);
        },
      )
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

/**
 * A credential failure in words an operator can act on. AWS's own messages name sources and
 * roles, never secrets; the original error is not kept, since SDK errors carry request details.
 */
function credentialsError(err: unknown): AwsCredentialsError {
  if (err instanceof AwsCredentialsError) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const text = String(e?.message ?? err).slice(0, 500);
  if (e?.$metadata?.httpStatusCode !== undefined) {
    return new AwsCredentialsError('upstream', `AWS STS refused the credentials request: ${e.name}: ${text}`);
  }
  if (e?.name === 'CredentialsProviderError') {
    return new AwsCredentialsError('not_configured', `no AWS credentials found: ${text}`);
  }
  return new AwsCredentialsError('upstream', `AWS credentials could not be fetched: ${text}`);
}
