import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { NodeSDK, NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { startGenAiMetrics, stopGenAiMetrics } from './gen-ai-metrics.ts';

/**
 * Process-wide tracing state. `tracer` is undefined while tracing is off, so every helper
 * below costs one property read then; nothing else runs on the hot path.
 */
export const tracing: { tracer: Tracer | undefined; logs: boolean } = { tracer: undefined, logs: false };

export interface TracingOptions {
  /** Add each log line written inside a span to that span as an event. */
  logs: boolean;
  /** Replaces the OTLP exporter chosen from OTEL_* (tests pass an in-memory one). */
  spanProcessors?: SpanProcessor[];
  /** Spans (default true); false when only the GenAI histograms are exported. */
  traces?: boolean;
  /**
   * The GenAI histograms (gen-ai-metrics.ts): true exports them as the OTEL_* variables say
   * (OTLP); readers given replace that (tests). Off by default.
   */
  metrics?: boolean | NonNullable<NodeSDKConfiguration['metricReaders']>;
}

export interface TracingHandle {
  /** Flushes and shuts the SDK down once every handle is stopped. Idempotent. */
  stop(): Promise<void>;
}

let sdk: Promise<NodeSDK> | undefined;
let holders = 0;

/**
 * Starts the OpenTelemetry SDK (traces, and the GenAI histograms when asked) unless it already
 * runs; then this handle shares it. The exporter, protocol (http/protobuf | http/json | grpc),
 * endpoint, headers, batch delays and export interval come from the standard OTEL_* variables,
 * read by the SDK itself.
 */
export async function startTracing(options: TracingOptions): Promise<TracingHandle> {
  holders++;
  sdk ??= (async () => {
    // Loaded only when needed: the SDK and its exporters cost ~250 ms and ~35 MB at start-up.
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const traces = options.traces ?? true;
    const wanted = options.metrics ?? false;
    const started = new NodeSDK({
      serviceName: process.env.OTEL_SERVICE_NAME ? undefined : 'aibridge',
      // An empty list starts no tracer provider; undefined lets OTEL_* choose the exporter.
      spanProcessors: traces ? options.spanProcessors : [],
      // Prometheus serves the bridge's metrics; over OTLP only the GenAI histograms, when asked.
      // Logs stay on stdout: no OTLP log pipeline.
      metricReaders: wanted === true ? undefined : wanted || [],
      logRecordProcessors: [],
      instrumentations: [],
    });
    started.start();
    if (traces) {
      tracing.tracer = trace.getTracer('aibridge');
      tracing.logs = options.logs;
    }
    if (wanted) startGenAiMetrics();
    return started;
  })();
  try {
    await sdk;
  } catch (err) {
    holders--;
    sdk = undefined;
    throw err;
  }
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      if (--holders > 0) return;
      const running = sdk;
      sdk = undefined;
      tracing.tracer = undefined;
      tracing.logs = false;
      stopGenAiMetrics();
      await (await running)?.shutdown(); // flushes spans and a last export of the histograms
      // Unregister the globals so a later start (tests) can register fresh ones.
      trace.disable();
      metrics.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** Attributes shared by every span of one interception, carried in the context so nested code need not know them. */
const SHARED = createContextKey('aibridge.interception.attributes');

/** A context that makes `attributes` (mutable: later fields reach later spans) part of every span started under it. */
export function withSharedAttributes(ctx: Context, attributes: Attributes): Context {
  return ctx.setValue(SHARED, attributes);
}

/** Starts a span under `parent` (default: the active context); undefined when tracing is off. */
export function startSpan(
  name: string,
  attributes?: Attributes,
  parent?: Context,
  kind: SpanKind = SpanKind.INTERNAL,
): Span | undefined {
  const tracer = tracing.tracer;
  if (!tracer) return undefined;
  const ctx = parent ?? context.active();
  const shared = ctx.getValue(SHARED) as Attributes | undefined;
  return tracer.startSpan(name, { kind, attributes: shared ? { ...shared, ...attributes } : attributes }, ctx);
}

/** Marks a span failed; an Error is also recorded as an exception event. */
export function failSpan(span: Span | undefined, reason: unknown): void {
  if (!span) return;
  const message = reason instanceof Error ? reason.message : String(reason);
  if (reason instanceof Error) span.recordException(reason);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** Runs fn inside a new active span; errors set the span's status. Just fn() when tracing is off. */
export function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  const span = startSpan(name, attributes);
  if (!span) return fn();
  return context.with(trace.setSpan(context.active(), span), fn).then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      failSpan(span, err);
      span.end();
      throw err;
    },
  );
}

/** Runs fn with `span` as the active span (so nested spans, logs and outgoing headers see it). */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  return span ? context.with(trace.setSpan(context.active(), span), fn) : fn();
}

/** Sets `traceparent` (and `tracestate`) from the active span, replacing any the client sent. No-op when tracing is off. */
export function injectTraceHeaders(headers: Record<string, string | string[]>): void {
  if (!tracing.tracer) return;
  propagation.inject(context.active(), headers);
}

/** A fetch that carries the active span's `traceparent` (for the MCP client transport). */
export function tracedFetch(url: string | URL, init?: RequestInit): Promise<Response> {
  if (!tracing.tracer) return fetch(url, init);
  const headers = new Headers(init?.headers);
  propagation.inject(context.active(), headers, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
  return fetch(url, { ...init, headers });
}
