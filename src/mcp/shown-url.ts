/**
 * An MCP server's URL as the bridge shows it — in the unauthenticated /readyz, in recorded
 * tool calls (`server_url`, which members read), in `aibridge mcp check` and in error text:
 * credentials before the host and every query value are replaced by `***`, since hosted MCP
 * servers often take their key there. (A secret in the path cannot be told apart: keep
 * secrets in `headers`.)
 */
export function shownUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw.replace(/\/\/[^/?#]*@/, '//***@').replace(/[?#].*$/, '');
  }
  if (!url.username && !url.password && !url.search && !url.hash) return raw;
  const at = url.username || url.password ? '***@' : '';
  const query = [...url.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=***`).join('&');
  return `${url.protocol}//${at}${url.host}${url.pathname}${query ? `?${query}` : ''}`;
}

/** Error text with the URL's secrets (the whole raw URL, its password, its query values) replaced. */
export function hideUrlSecrets(text: string, raw: string): string {
  let out = text.replaceAll(raw, shownUrl(raw));
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {}
  if (!url) return out;
  const secrets = [url.password, decodeURIComponent(url.password), ...url.searchParams.values()].filter(
    (s) => s.length >= 4,
  );
  for (const secret of secrets) out = out.replaceAll(secret, '***');
  return out;
}
