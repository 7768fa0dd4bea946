import { UpstreamAuthError } from '../../errors.ts';
import type { ProviderConfig, UpstreamCall, UpstreamCredentials } from '../../kind.ts';
import type { BedrockCredentialsConfig } from './credentials.ts';
import type { BedrockSigner } from './signer.ts';

/**
 * A Bedrock provider's upstream credentials: every call is signed with SigV4 over its own final
 * body (each call of a tool loop anew). Keys come from the config or the standard AWS chain,
 * fetched on first use; the AWS SDK modules load then too, so admin commands never pay for them.
 */
export function sigv4Credentials(config: ProviderConfig, at: string, origin: string): UpstreamCredentials {
  let signer: Promise<BedrockSigner> | undefined;
  const failed = `provider "${config.name}" could not get AWS credentials; the bridge's operator can find why in its log`;
  return {
    // Whether the AWS chain has credentials is known only when asked; a failure then answers 503/502.
    ready: true,
    setting: `${at}.access_key_id`,
    async apply(call: UpstreamCall) {
      signer ??= import('./signer.ts').then((m) => new m.BedrockSigner(config as unknown as BedrockCredentialsConfig));
      try {
        call.headers = await (await signer).sign({
          method: call.method,
          origin,
          path: call.path,
          headers: flatten(call.headers),
          body: call.body,
        });
      } catch (err) {
        const e = err as { name?: string; kind?: 'not_configured' | 'upstream'; message?: string };
        if (e?.name === 'AwsCredentialsError' && e.kind) throw new UpstreamAuthError(e.kind, failed, String(e.message));
        throw new UpstreamAuthError('internal', 'the upstream request could not be signed', String(e?.message ?? err));
      }
    },
  };
}

/** Header values as SigV4 signs them: one string each. */
function flatten(headers: UpstreamCall['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}
