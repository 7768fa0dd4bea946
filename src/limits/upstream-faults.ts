/**
 * Which failed upstream calls say something about the upstream. Only these count toward the
 * circuit breaker: a request we refused to send (a header undici rejects, a body we built
 * wrong) or a client that left must never open the circuit for everyone else.
 */
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);
const TLS = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** The error's code, or its cause's (undici wraps connect errors). */
function codeOf(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : '';
}

export function isUpstreamTimeout(err: unknown): boolean {
  return TIMEOUTS.has(codeOf(err));
}

/** Connect errors, resets, DNS and TLS failures, timeouts: the upstream or the way to it failed. */
export function isUpstreamFault(err: unknown): boolean {
  const code = codeOf(err);
  return TIMEOUTS.has(code) || UNREACHABLE.has(code) || TLS.test(code);
}
