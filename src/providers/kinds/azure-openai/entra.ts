import { UpstreamAuthError } from '../../errors.ts';
import type { UpstreamCall } from '../../kind.ts';
import { refreshing } from '../../refreshing.ts';

/** The scope of Azure OpenAI (Cognitive Services) tokens. */
export const AZURE_OPENAI_SCOPE = 'https://cognitiveservices.azure.com/.default';

/** What `@azure/identity`'s credentials give: a token and when it expires. */
export interface EntraTokenSource {
  getToken(scope: string): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/**
 * Microsoft Entra ID tokens for Azure OpenAI (`Authorization: Bearer`), from `@azure/identity`'s
 * DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI) unless a
 * source is given. The library loads on first use; a token is reused until shortly before it
 * expires, and concurrent calls share one request for it.
 */
export class EntraBearer {
  readonly #source: () => Promise<EntraTokenSource>;
  readonly #failed: string;
  /** The token, fetched again shortly before it expires. */
  readonly token: () => Promise<string> = refreshing(() => this.#fetch());

  constructor(provider: string, source?: EntraTokenSource) {
    let loaded: Promise<EntraTokenSource> | undefined;
    this.#source = () => {
      loaded ??= source
        ? Promise.resolve(source)
        : import('@azure/identity').then((m) => new m.DefaultAzureCredential() as EntraTokenSource);
      return loaded;
    };
    this.#failed = `provider "${provider}" could not get a Microsoft Entra ID token; the bridge's operator can find why in its log`;
  }

  async apply(call: UpstreamCall): Promise<void> {
    call.headers.authorization = `Bearer ${await this.token()}`;
  }

  async #fetch(): Promise<{ value: string; expiresAt: number }> {
    let got: { token: string; expiresOnTimestamp: number } | null;
    try {
      got = await (await this.#source()).getToken(AZURE_OPENAI_SCOPE);
    } catch (err) {
      // The library's words name the credential chain's attempts, never a secret.
      throw new UpstreamAuthError(
        'not_configured',
        this.#failed,
        String((err as Error)?.message ?? err).slice(0, 1_000),
      );
    }
    if (!got?.token) throw new UpstreamAuthError('upstream', this.#failed, 'Microsoft Entra ID returned no token');
    return { value: got.token, expiresAt: got.expiresOnTimestamp };
  }
}
