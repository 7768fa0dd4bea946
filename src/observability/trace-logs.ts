import { type Attributes, type AttributeValue, trace } from '@opentelemetry/api';
import { tracing } from './tracing.ts';

/** Returned when there is nothing to add; the merge strategy below never mutates it. */
const NOTHING: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** pino mixin: `trace_id` / `span_id` of the active span, when tracing is on. */
export function traceIds(): Record<string, string> {
  if (!tracing.tracer) return NOTHING;
  const span = trace.getActiveSpan();
  if (!span) return NOTHING;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** pino's default strategy assigns into the mixin object; this one leaves the shared empty object alone. */
export function mergeTraceIds(merge: object, mixin: object): object {
  return mixin === NOTHING ? merge : Object.assign(mixin, merge);
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * pino streamWrite hook: with trace logs on, the line (already serialised, so already
 * redacted) becomes an event on the active span. The line itself is written unchanged.
 */
export function logToSpan(line: string): string {
  if (!tracing.logs || !tracing.tracer) return line;
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { msg, level, time, trace_id, span_id, ...fields } = record;
  const attributes: Attributes = { 'log.severity': LEVELS[level as number] ?? String(level) };
  for (const [key, value] of Object.entries(fields)) attributes[`log.${key}`] = attributeValue(value);
  span.addEvent(typeof msg === 'string' && msg ? msg : 'log', attributes);
  return line;
}

function attributeValue(value: unknown): AttributeValue {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value) ?? String(value);
}
