import { MongoInvalidArgumentError, MongoServerError, MongoWriteConcernError } from 'mongodb';

export const DUPLICATE_KEY = 11000;

export const isDuplicate = (err: unknown) => (err as { code?: number }).code === DUPLICATE_KEY;

/** Server codes that mean "this document can never be stored as it is" (bad value, too large, bad field name). */
const DOCUMENT_CODES = new Set([2, 14, 52, 55, 56, 57, 10334, 16733, 17280, 17419]);

const missedWriteConcern = (err: MongoServerError) =>
  err instanceof MongoWriteConcernError ||
  Boolean((err as { result?: { getWriteConcernError?(): unknown } }).result?.getWriteConcernError?.());

/**
 * A refusal of the record itself: the driver could not serialise it (too large, bad keys) or
 * the server refused a document with one of DOCUMENT_CODES. Anything else — network,
 * selection, write concern, a server out of disk, overload, unknown — is worth retrying.
 */
export function isPermanent(err: unknown): boolean {
  if (err instanceof MongoInvalidArgumentError || (err as Error).name === 'BSONError') return true;
  if (!(err instanceof MongoServerError)) return false;
  if (missedWriteConcern(err) || err.hasErrorLabel('RetryableWriteError')) return false;
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  const codes = Array.isArray(writeErrors)
    ? writeErrors.map((e: { code?: number }) => e.code)
    : writeErrors
      ? [(writeErrors as { code?: number }).code]
      : [err.code];
  return codes.length > 0 && codes.every((code) => DOCUMENT_CODES.has(Number(code)));
}
