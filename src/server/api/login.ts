import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { OidcClient } from '../../identity/oidc/client.ts';
import { OidcError, type OidcErrorCode } from '../../identity/oidc/errors.ts';
import { claimsToIdentity } from '../../identity/oidc/identity.ts';
import { type SsoDirectory, signInUser } from '../../identity/oidc/provision.ts';
import { seal, sealingKey, unseal } from '../../identity/oidc/seal.ts';
import { SSO_TOKEN_MAX_DAYS } from '../../identity/users.ts';
import { UserRateLimit } from '../../limits/admission.ts';
import type { Logger } from '../../observability/logger.ts';
import { ApiError, invalid } from './errors.ts';
import { ref } from './schemas.ts';
import { parseExpiry } from './users/index.ts';

/**
 * `aibridge login`: a CLI user gets a bridge token through single sign-on, without an owner
 * (README: Signing in from the command line). The bridge runs the OAuth device authorization
 * grant with the provider as its confidential client:
 *
 * 1. `POST /login/device` `{name?, expires?}` checks the token's name and expiry, starts one
 *    at the provider and answers the code for the person to approve, the page where they do,
 *    and `login` — the provider's device code, name and expiry sealed under a key only the
 *    bridge's replicas can derive, so any replica can take the next call and the device code
 *    never leaves the bridge readable.
 * 2. `POST /login/device/token` `{login}` asks the provider once: 202 while the person has
 *    not approved yet; once they have, the ID token is validated, the user is created or
 *    updated as at a console sign-in, and 201 carries a new named, expiring token.
 */

export interface LoginDeps {
  /** The single sign-on client now in effect; undefined when `auth.oidc` is not configured. */
  oidc(): OidcClient | undefined;
  directory: SsoDirectory;
  /** Issues a bridge token of kind `api` (Users.createToken fits). */
  issueToken(userId: string, options: { name: string; expiresAt: Date }): Promise<{ token: string; apiKeyId: string }>;
  log: Logger;
  /** Device logins one client address may start a minute (each costs a request to the provider). */
  startsPerMinute?: number;
}

/** A token from `aibridge login` always expires: 30 days unless asked, 90 at most. */
const DEFAULT_EXPIRY = '30d';
const DEFAULT_NAME = 'aibridge login';
/** A sealed handle is a few hundred characters; anything longer is not one. */
const HANDLE_MAX = 4096;
const BODY_BYTES = 8192;
const MAX_PACED = 10_000;

interface Handle {
  /** The provider's device code. */
  d: string;
  /** When it expires (ms since the epoch). */
  x: number;
  /** Seconds between polls. */
  i: number;
  /** The token's name and expiry, as asked for at the start. */
  n: string;
  e: string;
}

const isHandle = (value: unknown): value is Handle =>
  !!value &&
  typeof (value as Handle).d === 'string' &&
  typeof (value as Handle).x === 'number' &&
  typeof (value as Handle).i === 'number' &&
  typeof (value as Handle).n === 'string' &&
  typeof (value as Handle).e === 'string';

/** The status each refusal answers with; the message is the OidcError's own (safe to show). */
const STATUS: Record<OidcErrorCode, number> = {
  provider_unavailable: 503,
  state_mismatch: 400,
  authorization_refused: 403,
  code_rejected: 400,
  invalid_id_token: 502,
  access_denied: 403,
  expired: 400,
  not_allowed: 403,
  invalid_claims: 502,
  user_disabled: 403,
  user_deleted: 403,
  last_owner: 409,
  provider_error: 502,
};

const errorBodies = {
  400: ref('Error'),
  403: ref('Error'),
  404: ref('Error'),
  409: ref('Error'),
  502: ref('Error'),
  503: ref('Error'),
};

export function loginRoutes(app: FastifyInstance, deps: LoginDeps): void {
  const starts = new UserRateLimit(deps.startsPerMinute ?? 20);
  /** When each handle last reached the provider (this replica): polls faster than its interval wait. */
  const lastPoll = new Map<string, number>();

  const sso = (): OidcClient => {
    const client = deps.oidc();
    if (!client) throw new ApiError(404, 'single sign-on is not configured on this bridge');
    return client;
  };
  const keyOf = (client: OidcClient) =>
    sealingKey(client.settings.client_secret, `device login\n${client.settings.issuer}\n${client.settings.client_id}`);
  const refused = (err: unknown, step: string): never => {
    if (!(err instanceof OidcError)) throw err;
    deps.log.warn({ code: err.code, reason: err.reason }, `aibridge login: ${step} refused`);
    throw new ApiError(STATUS[err.code], err.message);
  };

  app.post<{ Body: { name?: string; expires?: string } | undefined }>(
    '/login/device',
    {
      config: { anonymous: true },
      bodyLimit: BODY_BYTES,
      schema: {
        tags: ['login'],
        summary: 'Start a command-line sign-in through single sign-on (device authorization)',
        security: [],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100, description: `the new token's name` },
            expires: {
              type: 'string',
              maxLength: 64,
              description: `a duration (30d, 12h) or an RFC 3339 time; default ${DEFAULT_EXPIRY}, at most ${SSO_TOKEN_MAX_DAYS}d`,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['login', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval'],
            properties: {
              login: { type: 'string', description: 'pass back to /login/device/token; keep it private' },
              user_code: { type: 'string' },
              verification_uri: { type: 'string' },
              verification_uri_complete: { type: 'string' },
              expires_in: { type: 'integer' },
              interval: { type: 'integer' },
            },
          },
          429: ref('Error'),
          ...errorBodies,
        },
      },
    },
    async (request, reply) => {
      const client = sso();
      const name = request.body?.name ?? DEFAULT_NAME;
      const expires = request.body?.expires ?? DEFAULT_EXPIRY;
      expiryOf(expires); // refused now, not after the person has approved
      const wait = await starts.take(request.ip);
      if (wait) {
        reply.header('retry-after', String(wait));
        throw new ApiError(429, 'too many sign-ins started from this address; retry shortly');
      }
      const started = await client.startDeviceLogin().catch((err) => refused(err, 'start'));
      const handle: Handle = {
        d: started.device_code,
        x: Date.now() + started.expires_in * 1000,
        i: started.interval,
        n: name,
        e: expires,
      };
      return {
        login: seal(keyOf(client), handle),
        user_code: started.user_code,
        verification_uri: started.verification_uri,
        verification_uri_complete: started.verification_uri_complete,
        expires_in: started.expires_in,
        interval: started.interval,
      };
    },
  );

  app.post<{ Body: { login: string } }>(
    '/login/device/token',
    {
      config: { anonymous: true },
      bodyLimit: BODY_BYTES,
      schema: {
        tags: ['login'],
        summary: 'Finish a command-line sign-in: pending until approved, then a new token',
        security: [],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['login'],
          properties: { login: { type: 'string', minLength: 1, maxLength: HANDLE_MAX } },
        },
        response: {
          201: {
            type: 'object',
            required: ['token', 'id', 'name', 'expires_at', 'user'],
            properties: {
              token: { type: 'string', description: 'shown once' },
              id: { type: 'string' },
              name: { type: 'string' },
              expires_at: { type: 'string', format: 'date-time' },
              user: {
                type: 'object',
                required: ['id', 'username', 'name', 'role'],
                properties: {
                  id: { type: 'string' },
                  username: { type: 'string' },
                  name: { type: 'string' },
                  role: { type: 'string' },
                },
              },
            },
          },
          202: {
            type: 'object',
            required: ['status', 'interval'],
            properties: {
              status: { type: 'string', enum: ['authorization_pending', 'slow_down'] },
              interval: { type: 'integer', description: 'seconds to wait before asking again' },
            },
          },
          ...errorBodies,
        },
      },
    },
    async (request, reply) => {
      const client = sso();
      const handle = unseal(keyOf(client), request.body.login);
      if (!isHandle(handle) || handle.x <= Date.now()) {
        throw new ApiError(400, 'this sign-in is unknown or has expired; run aibridge login again');
      }
      const key = createHash('sha256').update(handle.d).digest('base64url');
      const now = Date.now();
      const last = lastPoll.get(key);
      if (last !== undefined && now - last < handle.i * 1000) {
        return reply.code(202).send({ status: 'slow_down', interval: handle.i });
      }
      lastPoll.delete(key);
      lastPoll.set(key, now);
      if (lastPoll.size > MAX_PACED) lastPoll.delete(lastPoll.keys().next().value as string);

      const answer = await client.pollDeviceLogin(handle.d, handle.i).catch((err) => refused(err, 'poll'));
      if (answer.status === 'pending') {
        return reply.code(202).send({
          status: answer.interval > handle.i ? 'slow_down' : 'authorization_pending',
          interval: answer.interval,
        });
      }
      lastPoll.delete(key);
      let signedIn: Awaited<ReturnType<typeof signInUser>>;
      try {
        signedIn = await signInUser(deps.directory, claimsToIdentity(answer.claims, client.settings), deps.log);
      } catch (err) {
        return refused(err, 'sign-in');
      }
      const { user } = signedIn;
      const name = handle.n;
      const expiresAt = expiryOf(handle.e);
      const issued = await deps.issueToken(user.id, { name, expiresAt });
      deps.log.info({ user: user.id, api_key_id: issued.apiKeyId }, 'aibridge login issued a token');
      return reply.code(201).send({
        token: issued.token,
        id: issued.apiKeyId,
        name,
        expires_at: expiresAt.toISOString(),
        user: { id: user.id, username: user.username, name: user.name, role: user.role },
      });
    },
  );
}

function expiryOf(text: string | undefined): Date {
  const at = parseExpiry(text ?? DEFAULT_EXPIRY) as Date;
  if (at.getTime() - Date.now() > SSO_TOKEN_MAX_DAYS * 86_400_000) {
    throw invalid(
      [{ field: 'expires', detail: `a token from aibridge login lasts at most ${SSO_TOKEN_MAX_DAYS}d` }],
      'invalid request body',
    );
  }
  return at;
}
