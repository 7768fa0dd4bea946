import { type Attributes, type Histogram, metrics } from '@opentelemetry/api';

/**
 * The GenAI client histograms of the OpenTelemetry conventions, exported over OTLP beside the
 * Prometheus metrics when OTLP metrics export is configured (README "Observability"). Undefined
 * while it is not, so recording costs one property read.
 */
export const genAiMetrics: { tokens: Histogram | undefined; duration: Histogram | undefined } = {
  tokens: undefined,
  duration: undefined,
};

/** The conventions' advised buckets: powers of 4 tokens, and doubling from 10 ms. */
const TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/**
 * True when the OTEL_* variables ask for OTLP metrics: `OTEL_METRICS_EXPORTER` names `otlp`, or
 * a metrics endpoint is given. Not the SDK's default of `otlp` when nothing is said: Prometheus
 * serves the bridge's metrics, and a trace collector need not take metrics.
 */
export function otlpMetricsConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  const exporters = (env.OTEL_METRICS_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (exporters.includes('none')) return false;
  return exporters.includes('otlp') || Boolean(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
}

/** Creates the histograms on the global meter provider (the SDK's, once it runs). */
export function startGenAiMetrics(): void {
  const meter = metrics.getMeter('aibridge');
  genAiMetrics.tokens = meter.createHistogram('gen_ai.client.token.usage', {
    unit: '{token}',
    description: 'Number of input and output tokens used',
    advice: { explicitBucketBoundaries: TOKEN_BOUNDS },
  });
  genAiMetrics.duration = meter.createHistogram('gen_ai.client.operation.duration', {
    unit: 's',
    description: 'GenAI operation duration',
    advice: { explicitBucketBoundaries: DURATION_BOUNDS },
  });
}

export function stopGenAiMetrics(): void {
  genAiMetrics.tokens = undefined;
  genAiMetrics.duration = undefined;
}

/** The attributes the conventions put on both histograms, out of a call's span attributes (bounded ones only). */
const METRIC_KEYS = [
  'gen_ai.operation.name',
  'gen_ai.provider.name',
  'gen_ai.request.model',
  'server.address',
  'server.port',
];

export function metricAttributes(call: Attributes): Attributes {
  const out: Attributes = {};
  for (const key of METRIC_KEYS) if (call[key] !== undefined) out[key] = call[key];
  return out;
}
