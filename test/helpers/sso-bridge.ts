import { startTestBridge, type TestBridge } from './bridge.ts';
import { type StoreKind, type TestStore, testStore } from './db.ts';
import { startOidcProvider, type TestOidcProvider, type TestUser } from './oidc-provider.ts';
import { freePort } from './ports.ts';

export interface SsoWorld {
  idp: TestOidcProvider;
  bridge: TestBridge;
  store: TestStore;
  url: string;
  close(): Promise<void>;
}

export const ROLES_FROM_GROUPS = { owner: ['platform-admins'], auditor: ['security'] };

/**
 * The real bridge with single sign-on against the real OpenID provider (test/helpers/oidc-provider.ts),
 * its console callback and post-logout address registered there.
 */
export async function startSsoWorld(
  users: TestUser[],
  options: {
    kind?: StoreKind;
    overrides?: Record<string, unknown>;
    issuerHost?: string;
    oidc?: Record<string, unknown>;
  } = {},
): Promise<SsoWorld> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const idp = await startOidcProvider({
    redirectUris: [`${url}/api/v2/aibridge/session/sso/callback`],
    postLogoutRedirectUris: [`${url}/`],
    users,
    issuerHost: options.issuerHost,
  });
  const store = await testStore(options.kind ?? 'embedded', `sso-${port}`);
  const bridge = await startTestBridge(store, {
    listen: `127.0.0.1:${port}`,
    auth: {
      oidc: {
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        groups_claim: 'groups',
        roles: ROLES_FROM_GROUPS,
        ...options.oidc,
      },
    },
    ...options.overrides,
  });
  return {
    idp,
    bridge,
    store,
    url,
    async close() {
      await bridge.close();
      await idp.close();
      await store.close();
    },
  };
}
