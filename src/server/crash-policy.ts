import type { Logger } from '../observability/logger.ts';

/**
 * I/O errors confined to one file or connection (every stream in src has its own 'error'
 * handler; this is the net under it): the process is intact, so it keeps serving.
 */
const CONTAINED = new Set([
  'EMFILE',
  'ENFILE',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EPIPE',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ERR_STREAM_WRITE_AFTER_END',
  'ERR_STREAM_DESTROYED',
]);

/**
 * The process-wide policy for errors nothing handled. An unhandled rejection is a promise
 * nobody awaited: logged, serving goes on. An uncaught exception goes on only when it is a
 * contained I/O error; anything else means unknown state: logged, then `fatal()` (shut down, exit 1).
 */
export function installCrashPolicy(logger: Logger, fatal: () => void): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection; serving on');
  });
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    if (err.code && CONTAINED.has(err.code)) {
      logger.error({ err }, `uncaught ${err.code} on one file or connection; serving on`);
      return;
    }
    logger.fatal({ err }, 'uncaught exception; shutting down');
    fatal();
  });
}
