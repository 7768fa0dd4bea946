import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type KoaContext } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

/**
 * A real OpenID provider for tests: the certified `oidc-provider` package, in this process, on
 * loopback. One confidential client (PKCE required), users the test can change between
 * sign-ins, small HTML forms for sign-in (a browser or a plain HTTP client can fill them),
 * consent granted automatically, the device flow and RP-initiated logout. Signing keys are
 * made at start; nothing leaves loopback.
 */

export interface TestUser {
  username: string;
  password: string;
  email: string;
  name?: string;
  groups: string[];
  /** A disabled user cannot sign in, and tokens are no longer issued for them. */
  disabled?: boolean;
}

interface Account extends TestUser {
  sub: string;
}

export interface OidcProviderOptions {
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  clientId?: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  users?: TestUser[];
  /**
   * true (default): the ID token carries every granted claim, as most company IdPs do;
   * false: only what OpenID Connect requires there, the rest from userinfo.
   */
  claimsInIdToken?: boolean;
  /**
   * The host in the issuer URL (it listens on 127.0.0.1 either way): `localhost` makes the
   * provider another site than a bridge on 127.0.0.1, as a real provider is, for browser tests.
   */
  issuerHost?: string;
}

/** How the next ID token the token endpoint returns is rewritten (negative tests). */
export interface IdTokenRewrite {
  /** Changes the claims before the token is signed again. */
  claims?: (claims: Record<string, any>) => Record<string, any>;
  /**
   * `foreign`: signed by a key the provider never published, under the provider's key id;
   * `none`: an unsigned token (`alg: none`).
   */
  signedBy?: 'provider' | 'foreign' | 'none';
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Adds a user, or replaces the one with that username (its subject stays). */
  setUser(user: TestUser): void;
  /** Changes a user between sign-ins: their groups, a disable, a new email. */
  updateUser(username: string, patch: Partial<Omit<TestUser, 'username'>>): void;
  /** The stable subject (`sub`) of a user. */
  subjectOf(username: string): string;
  /** Rewrites the ID token of the next successful token response, once. */
  rewriteNextIdToken(rewrite: IdTokenRewrite): void;
  /** A JWT signed like the provider's ID tokens (or by a foreign key), for tests of a verifier. */
  mintIdToken(claims: Record<string, unknown>, signedBy?: 'provider' | 'foreign' | 'none'): string;
  /** The next `count` requests for the discovery document answer 503. */
  failDiscovery(count: number): void;
  /** Requests for the discovery document, failed ones included. */
  readonly discoveryRequests: number;
  /** Requests that reached the token endpoint. */
  readonly tokenRequests: number;
  /** Errors the provider raised while serving (a test may assert there were none). */
  readonly serverErrors: Error[];
  close(): Promise<void>;
}

const FORM_BYTES = 16 * 1024;

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;

function loginForm(uid: string, problem?: string): string {
  const action = `/interaction/${encodeURIComponent(uid)}/login`;
  return page(
    'Sign in',
    `${problem ? `<p role="alert">${escapeHtml(problem)}</p>` : ''}
<form id="login" method="post" action="${escapeHtml(action)}">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" autocomplete="username" required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > FORM_BYTES) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${base64url(sign('sha256', Buffer.from(input), key))}`;
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<TestOidcProvider> {
  const clientId = options.clientId ?? 'aibridge-test';
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
  const accounts = new Map<string, Account>();
  const bySubject = new Map<string, Account>();
  const serverErrors: Error[] = [];
  let tokenRequests = 0;
  let discoveryRequests = 0;
  let discoveryFailures = 0;
  let rewrite: IdTokenRewrite | undefined;

  const kid = randomUUID();
  const signingJwk = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid,
    alg: 'RS256',
    use: 'sig',
  };
  const providerKey = createPrivateKey({ key: signingJwk, format: 'jwk' });
  const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const mint = (claims: Record<string, unknown>, signedBy: 'provider' | 'foreign' | 'none' = 'provider') =>
    signedBy === 'none'
      ? `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.`
      : signJwt({ alg: 'RS256', typ: 'JWT', kid }, claims, signedBy === 'foreign' ? foreignKey : providerKey);

  const setUser = (user: TestUser) => {
    const sub = accounts.get(user.username)?.sub ?? randomUUID();
    const account = { ...user, groups: [...user.groups], sub };
    accounts.set(user.username, account);
    bySubject.set(sub, account);
  };
  for (const user of options.users ?? []) setUser(user);

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    adapter: createMemoryAdapter(),
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris ?? [],
        token_endpoint_auth_method: options.tokenEndpointAuthMethod ?? 'client_secret_basic',
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: options.claimsInIdToken === false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx: KoaContext, form: string, _out: unknown, err?: { name?: string }) => {
          const problem = !err
            ? ''
            : err.name === 'AbortedError'
              ? '<p role="alert">The sign-in was aborted.</p>'
              : '<p role="alert">That code is not valid.</p>';
          ctx.body = page(
            'Enter the code',
            `${problem}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`,
          );
        },
        userCodeConfirmSource: async (ctx: KoaContext, form: string, _c: unknown, _d: unknown, userCode: string) => {
          ctx.body = page(
            'Confirm the device',
            `<p>Code <code>${escapeHtml(userCode)}</code></p>${form}` +
              '<button type="submit" form="op.deviceConfirmForm">Continue</button>' +
              '<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>',
          );
        },
        successSource: async (ctx: KoaContext) => {
          ctx.body = page('Device signed in', '<p>You can close this page.</p>');
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContext, form: string) => {
          ctx.body = page(
            'Sign out?',
            `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          );
        },
        postLogoutSuccessSource: async (ctx: KoaContext) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, sub: string) {
      const account = bySubject.get(sub);
      if (!account || account.disabled) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          preferred_username: account.username,
          name: account.name ?? account.username,
          email: account.email,
          email_verified: true,
          groups: [...account.groups],
        }),
      };
    },
    renderError: async (ctx: KoaContext, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<p>${escapeHtml(out.error ?? 'error')}</p>`);
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
  });
  for (const event of ['server_error', 'grant.error', 'authorization.error', 'end_session.error']) {
    provider.on(event, (_ctx: unknown, err: Error) => {
      if (event === 'server_error' || !(err as { expose?: boolean }).expose) serverErrors.push(err);
    });
  }

  // The sign-in and consent screens (the provider leaves these to the deployment).
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(ctx.path);
    if (!match) return next();
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== decodeURIComponent(match[1] as string)) {
      ctx.status = 400;
      ctx.body = page('Sign-in error', '<p>This sign-in is no longer current.</p>');
      return;
    }
    let result: Record<string, unknown>;
    if (interaction.prompt.name === 'login') {
      if (ctx.method !== 'POST' || !match[2]) {
        ctx.type = 'html';
        ctx.body = loginForm(interaction.uid);
        return;
      }
      const form = await readForm(ctx.req);
      const account = accounts.get(form.get('username') ?? '');
      if (!account || account.password !== form.get('password') || account.disabled) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginForm(
          interaction.uid,
          account?.disabled ? 'This account is disabled.' : 'Wrong username or password.',
        );
        return;
      }
      result = { login: { accountId: account.sub } };
    } else if (interaction.prompt.name === 'consent') {
      const accountId = interaction.session?.accountId as string;
      const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
      const grant = existing ?? new provider.Grant({ accountId, clientId: interaction.params.client_id });
      const details = interaction.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
      if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {}))
        grant.addResourceScope(resource, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    } else {
      ctx.status = 400;
      ctx.body = page('Sign-in error', '<p>Unexpected step.</p>');
      return;
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.redirect(returnTo);
    ctx.status = 303;
  });

  provider.use(async (ctx, next) => {
    if (ctx.path !== '/.well-known/openid-configuration') return next();
    discoveryRequests++;
    if (discoveryFailures <= 0) return next();
    discoveryFailures--;
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable' };
  });

  // Counts token requests and, when a test asked, rewrites the next ID token.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/token') return next();
    tokenRequests++;
    await next();
    const body = ctx.body as { id_token?: unknown } | undefined;
    if (!rewrite || ctx.status !== 200 || typeof body?.id_token !== 'string') return;
    const { claims = (c) => c, signedBy = 'provider' } = rewrite;
    rewrite = undefined;
    const payload = JSON.parse(Buffer.from(body.id_token.split('.')[1] as string, 'base64url').toString('utf8'));
    ctx.body = { ...body, id_token: mint(claims(payload), signedBy) };
  });

  server.on('request', provider.callback());

  return {
    issuer,
    clientId,
    clientSecret,
    setUser,
    updateUser(username, patch) {
      const account = accounts.get(username);
      if (!account) throw new Error(`no test user ${username}`);
      Object.assign(account, patch);
    },
    subjectOf(username) {
      const account = accounts.get(username);
      if (!account) throw new Error(`no test user ${username}`);
      return account.sub;
    },
    rewriteNextIdToken(next) {
      rewrite = next;
    },
    mintIdToken: mint,
    failDiscovery(count) {
      discoveryFailures = count;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    serverErrors,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
