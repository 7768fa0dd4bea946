function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Why a request path may not be routed, or undefined when it may. Upstreams (and proxies on the
 * way) normalise `..`, `%2e%2e` and `//`, so `/openai/v1/responses/../files` would reach an
 * endpoint the bridge never meant to expose, with the provider's key. The path is checked as
 * sent and after each round of percent-decoding (double encoding included); `\` counts as a
 * separator because some servers treat it as one. A single trailing slash is allowed.
 */
export function pathProblem(url: string): string | undefined {
  let path = url.split('?')[0] as string;
  if (!path.startsWith('/')) return 'the request target must be a path starting with /';
  for (let round = 0; round < 4; round++) {
    if (hasControlCharacter(path)) return 'the path contains control characters';
    const segments = path.split(/[/\\]/);
    for (let i = 1; i < segments.length; i++) {
      const segment = segments[i];
      if (segment === '.' || segment === '..') return `the path has a "${segment}" segment`;
      if (segment === '' && i < segments.length - 1) return 'the path has an empty segment (//)';
    }
    if (!path.includes('%')) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return 'the path has malformed percent-encoding';
    }
    if (decoded === path) return undefined;
    path = decoded;
  }
  return 'the path is percent-encoded too many times';
}
