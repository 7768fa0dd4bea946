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
export function canonicalJson(value: unknown, skipTopLevel?: string): string {
  return write(value, skipTopLevel);
}

function write(value: unknown, skip?: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.isWellFormed() ? value : value.toWellFormed());
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i) out += ',';
          const item = value[i];
          out += item === undefined || typeof item === 'function' ? 'null' : write(item);
        }
        return `${out}]`;
      }
      return object(value as Record<string, unknown>, skip);
    case 'bigint':
      return value.toString();
    default:
      return 'null'; // undefined and functions never reach here as members (left out below)
  }
}

function object(value: Record<string, unknown>, skip: string | undefined): string {
  // Default sort compares UTF-16 code units, as RFC 8785 asks.
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    if (key === skip) continue;
    const item = value[key];
    if (item === undefined || typeof item === 'function') continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key.isWellFormed() ? key : key.toWellFormed())}:${write(item)}`;
  }
  return `${out}}`;
}
