/**
 * Canonical JSON of a stored document (README "Tamper evidence"): the JSON Canonicalization
 * Scheme (RFC 8785) — members sorted by name in UTF-16 code units, no whitespace, numbers and
 * strings as JSON.stringify writes them — applied to the document as either store reads it
 * back: dates as RFC 3339 text (`toISOString`), members whose value is undefined left out,
 * and text made well formed first (MongoDB stores a lone surrogate as U+FFFD).
 *
 * Both stores therefore give one text for one document, whatever their encoding (epoch
 * milliseconds inside SQLite, BSON dates in MongoDB), and `aibridge migrate` keeps it.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalValue(value));
}

/**
 * The value JSON.stringify turns into the canonical text: objects rebuilt with their members
 * in order, dates and ill-formed text replaced; `skip` leaves members of the top object out. (Rebuilding and letting the native serialiser
 * write it costs about half what writing the text member by member here did.)
 */
export function canonicalValue(value: unknown, skip?: ReadonlySet<string>): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => canonicalValue(item));
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // Default sort compares UTF-16 code units, as RFC 8785 asks.
  for (const key of Object.keys(source).sort()) {
    if (skip?.has(key)) continue;
    out[key.isWellFormed() ? key : key.toWellFormed()] = canonicalValue(source[key]);
  }
  return out;
}
