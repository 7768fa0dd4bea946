import { type Logger, pino } from 'pino';
import { logToSpan, mergeTraceIds, traceIds } from './trace-logs.ts';

export type { Logger };

/** Header and field names whose values are secrets; pino replaces them before a line is written. */
const REDACT = [
  'api_key',
  'token',
  '*.api_key',
  '*.token',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["coder-session-token"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["coder-session-token"]',
  'req.headers.cookie',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.AIBRIDGE_LOG_LEVEL ?? 'info';
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: undefined,
      // Both check one flag and return at once while tracing is off.
      mixin: traceIds,
      mixinMergeStrategy: mergeTraceIds,
      hooks: { streamWrite: logToSpan },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
