/** errno codes of a write that did not reach a file, as an operator would say them. */
const FILE_ERRORS: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  EROFS: 'read-only file system',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'directory missing',
  ENOTDIR: 'not a directory',
};

/** SQLite's primary result codes that a write meets on a bad day. */
const SQLITE_ERRORS: Record<number, string> = {
  5: 'database busy (SQLITE_BUSY)',
  6: 'database locked (SQLITE_LOCKED)',
  7: 'out of memory (SQLITE_NOMEM)',
  8: 'read-only database (SQLITE_READONLY)',
  10: 'I/O error (SQLITE_IOERR)',
  11: 'database file corrupt (SQLITE_CORRUPT)',
  13: 'disk full (SQLITE_FULL)',
  14: 'cannot open the database file (SQLITE_CANTOPEN)',
  15: 'locking protocol error (SQLITE_PROTOCOL)',
};

/** MongoDB driver errors that mean no server answered. */
const UNREACHABLE = new Set([
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoTopologyClosedError',
  'MongoOperationTimeoutError',
]);

/**
 * Why a write failed, in words fit for a log line, `/readyz` and a client's 503: the condition
 * and its code — `disk full (ENOSPC)`, `disk full (SQLITE_FULL)` — never a path, a host or
 * anything of a record (the error's own message may carry them; logs keep that separately).
 */
export function failureCause(err: unknown): string {
  const { code, errcode, name, codeName } = (err ?? {}) as {
    code?: unknown;
    errcode?: unknown;
    name?: unknown;
    codeName?: unknown;
  };
  if (typeof code === 'string' && Object.hasOwn(FILE_ERRORS, code)) return `${FILE_ERRORS[code]} (${code})`;
  if (typeof errcode === 'number') return SQLITE_ERRORS[errcode & 0xff] ?? `SQLite error ${errcode}`;
  const kind = typeof name === 'string' ? name : 'Error';
  if (UNREACHABLE.has(kind)) return `MongoDB unreachable (${kind})`;
  if (kind === 'MongoWriteConcernError') return `MongoDB write concern not met (code ${String(code)})`;
  if (kind.startsWith('Mongo')) {
    const named = typeof codeName === 'string' ? `${codeName} ` : '';
    return code === undefined ? `MongoDB error (${kind})` : `MongoDB error ${named}(code ${String(code)})`;
  }
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? `file error (${code})` : `store error (${kind})`;
}
