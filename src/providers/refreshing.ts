/** How long before a credential expires it is fetched again (at most half its lifetime). */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * An access token that expires (Google's, Microsoft Entra ID's): kept until shortly before it
 * expires, then fetched again once for every caller waiting at that moment; a failed fetch is not
 * kept, so the next call tries again. No `expiresAt`: kept for good. (AWS keys follow the AWS
 * SDKs' own rule instead: bedrock/credentials.ts.)
 */
export function refreshing<T>(
  fetch: () => Promise<{ value: T; expiresAt: number | undefined }>,
  marginMs = REFRESH_MARGIN_MS,
): () => Promise<T> {
  let cached: { value: T; refreshAt: number } | undefined;
  let pending: Promise<T> | undefined;
  const refresh = async () => {
    const started = Date.now();
    const { value, expiresAt } = await fetch();
    const end = expiresAt ?? Number.POSITIVE_INFINITY;
    cached = { value, refreshAt: end - Math.min(marginMs, (end - started) / 2) };
    return value;
  };
  return () => {
    if (cached && Date.now() < cached.refreshAt) return Promise.resolve(cached.value);
    pending ??= refresh().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
