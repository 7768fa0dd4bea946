/**
 * The bridge token in a Proxy-Authorization header: `Basic base64(anything:TOKEN)` (the token is
 * the password, as in HTTPS_PROXY=http://user:TOKEN@host:port) or `Bearer TOKEN`. Undefined when
 * the header is absent or carries no token.
 */
export function proxyToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined; // absent, or repeated: ambiguous
  const match = /^\s*(basic|bearer)\s+(\S+)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, scheme, value] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() === 'bearer') return value;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // Clients percent-decode userinfo before sending it; the password is taken as it arrives.
  const password = decoded.slice(colon + 1);
  return password || undefined;
}
