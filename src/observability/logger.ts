import { type Logger, pino } from 'pino';

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
    { level, redact: { paths: REDACT, censor: '[redacted]' }, base: undefined },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
