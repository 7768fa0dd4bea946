import { UpstreamAuthError } from '../../errors.ts';
import type { UpstreamCall } from '../../kind.ts';

/** The scope of Azure OpenAI (Cognitive Services) tokens. */
export const AZURE_OPENAI_SCOPE = 'https://cognitiveservices.azure.com/.default';

/** A token is asked for again this long before it expires, so a request sent now still lands in time. */
const REFRESH_MARGIN_MS = 5 * 60_000;

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
  #cached: { token: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;

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

  token(): Promise<string> {
    if (this.#cached && Date.now() < this.#cached.refreshAt) return Promise.resolve(this.#cached.token);
    this.#pending ??= this.#refresh().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #refresh(): Promise<string> {
    const started = Date.now();
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
    const margin = Math.min(REFRESH_MARGIN_MS, (got.expiresOnTimestamp - started) / 2);
    this.#cached = { token: got.token, refreshAt: got.expiresOnTimestamp - margin };
    return got.token;
  }
}
