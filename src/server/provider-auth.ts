import type { IncomingHttpHeaders } from 'node:http';
import { tokenFrom } from '../identity/authenticator.ts';
import type { Principal } from '../identity/users.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import type { Provider } from '../providers/provider.ts';
import type { AppContext } from './context.ts';
import type { ProxyClient } from './proxy-client.ts';
import type { RefusalOptions } from './refuse.ts';

/** Why a provider request is refused before anything of it is read. */
export interface Refusal {
  kind: BridgeErrorKind;
  message: string;
  options?: RefusalOptions;
}

/** Who calls, and their own key for the provider when it takes one and they stored it (README "Bring your own key"). */
export type ProviderAuth = { principal: Principal; ownKey: string | undefined } | { refusal: Refusal };

/**
 * Who sends a provider request, from its headers alone (an HTTP request's, or a WebSocket's
 * upgrade), and whether the provider can serve it: the bridge token (Bearer, X-Api-Key) must be a
 * valid one and the provider must have upstream credentials. Inside an intercepted proxy session
 * the caller is who opened it (`proxied`): the headers carry the client's own provider key.
 */
export async function authenticateProvider(
  ctx: AppContext,
  provider: Provider,
  headers: IncomingHttpHeaders,
  log: { error(fields: Record<string, unknown>, message: string): void },
  proxied?: ProxyClient,
): Promise<ProviderAuth> {
  const token = proxied ? undefined : tokenFrom(headers, provider.kind.tokenHeaders);
  if (!proxied && !token) {
    return {
      refusal: {
        kind: 'authentication',
        message: 'missing credentials: send your AI Bridge token as a Bearer token or X-Api-Key',
      },
    };
  }
  let principal: Principal | null;
  try {
    principal = proxied ? await proxied.authenticate() : await ctx.authenticator.authenticate(token as string);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'token lookup failed');
    return {
      refusal: {
        kind: 'overloaded',
        message: 'authentication is temporarily unavailable',
        options: { headers: { 'retry-after': '5' }, reason: 'auth_unavailable' },
      },
    };
  }
  if (!principal) {
    const message = proxied
      ? 'the AI Bridge token this proxy connection was opened with is no longer valid'
      : 'invalid or expired AI Bridge token';
    return { refusal: { kind: 'authentication', message } };
  }
  const current = ctx.providers.find((p) => p.name === provider.name) ?? provider; // a reload may have replaced it
  // A user's own key where the provider takes one (README "Bring your own key").
  let ownKey: string | undefined;
  if (current.byok !== 'off') {
    try {
      ownKey = await ctx.userKeys.key(principal.user._id, current.name);
    } catch (err) {
      log.error({ err: (err as Error).message }, "looking up a user's own provider key failed");
      return {
        refusal: {
          kind: 'overloaded',
          message: 'your own provider key cannot be read right now; retry shortly',
          options: { headers: { 'retry-after': '5' }, reason: 'auth_unavailable' },
        },
      };
    }
  }
  if (!ownKey && current.byok === 'required') {
    return {
      refusal: {
        kind: 'permission',
        message: `provider "${provider.name}" takes only your own key: store it in the console (Me, My provider keys) or with PUT /api/v2/aibridge/users/me/provider-keys/${provider.name}`,
      },
    };
  }
  if (!current.hasKey && !ownKey) {
    return {
      refusal: {
        kind: 'not_configured',
        message: `provider "${provider.name}" has no api_key configured (${current.keySetting}); ask the bridge's operator`,
      },
    };
  }
  return { principal, ownKey };
}
