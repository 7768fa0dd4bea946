import { type BridgeErrorKind, UpstreamAuthError } from '../../errors.ts';
import type { ProviderConfig, UpstreamCall, UpstreamCredentials } from '../../kind.ts';
import type { GoogleTokenSource } from './google-token.ts';

/**
 * A Vertex provider's upstream credentials: `Authorization: Bearer` with a Google OAuth access
 * token from the service-account file, or Application Default Credentials. Google's library
 * loads on first use, so admin commands never pay for it.
 */
export function googleBearerCredentials(config: ProviderConfig, at: string): UpstreamCredentials {
  let source: Promise<GoogleTokenSource> | undefined;
  const file = typeof config.credentials_file === 'string' ? config.credentials_file.trim() : '';
  const failed = `provider "${config.name}" could not get a Google access token; the bridge's operator can find why in its log`;
  return {
    // Whether ADC finds credentials is known only when asked; a failure then answers 503/502.
    ready: true,
    setting: `${at}.credentials_file`,
    async apply(call: UpstreamCall) {
      source ??= import('./google-token.ts').then(
        (m) => new m.GoogleTokenSource(file ? { credentials_file: file } : {}),
      );
      let token: string;
      try {
        token = await (await source).token();
      } catch (err) {
        const e = err as { kind?: BridgeErrorKind; message?: string };
        throw new UpstreamAuthError(e?.kind ?? 'upstream', failed, String(e?.message ?? err));
      }
      call.headers.authorization = `Bearer ${token}`;
    },
  };
}
