import { type ErrorFormat, statusOf } from '../../errors.ts';

/**
 * Azure OpenAI's error JSON: `{"error": {"code": "429", "message": …}}`, the HTTP status as the
 * code (as Azure answers a refused key, a rate limit or a server error); the OpenAI SDK's
 * `AzureOpenAI` client reads it into its typed errors.
 */
export const azureErrors: ErrorFormat = {
  body: (kind, message) => ({ error: { code: String(statusOf(kind)), message } }),
};
