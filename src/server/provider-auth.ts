import type { IncomingHttpHeaders } from 'node:http';
import { tokenFrom } from '../identity/authenticator.ts';
import type { Principal } from '../identity/users.ts';
import type { BridgeErrorKind } from '../providers/errors.ts';
import type { Provider } from '../providers/provider.ts';
import type { AppContext } from './context.ts';
import type { RefusalOptions } from './refuse.ts';

/** Why a provider request is refused before anything of it is read. */
export interface Refusal {
  kind: BridgeErrorKind;
  message: string;
  options?: RefusalOptions;
}

export type ProviderAuth = { principal: Principal } | { refusal: Refusal };

/**
 * Who sends a provider request, from its headers alone (an HTTP request's, or a WebSocket's
 * upgrade), and whether the provider can serve it: the bridge token (Bearer, X-Api-Key) must be a
 * valid one and the provider must have upstream credentials.
 */
export async function authenticateProvider(
  ctx: AppContext,
  provider: Provider,
  headers: IncomingHttpHeaders,
  log: { error(fields: Record<string, unknown>, message: string): void },
): Promise<ProviderAuth> {
  const token = tokenFrom(headers);
  if (!token) {
    return {
      refusal: {
        kind: 'authentication',
        message: 'missing credentials: send your AI Bridge token as a Bearer token or X-Api-Key',
      },
    };
  }
  let principal: Principal | null;
  try {
    principal = await ctx.authenticator.authenticate(token);
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
  if (!principal) return { refusal: { kind: 'authentication', message: 'invalid or expired AI Bridge token' } };
  const current = ctx.providers.find((p) => p.name === provider.name) ?? provider; // a reload may have replaced it
  if (!current.hasKey) {
    return {
      refusal: {
        kind: 'not_configured',
        message: `provider "${provider.name}" has no api_key configured (${current.keySetting}); ask the bridge's operator`,
      },
    };
  }
  return { principal };
}
