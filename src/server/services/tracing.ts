import { otlpMetricsConfigured } from '../../observability/gen-ai-metrics.ts';
import { startTracing } from '../../observability/tracing.ts';
import type { Service } from './service.ts';

/**
 * Starts OpenTelemetry when `tracing.enabled`, or when OTLP metrics export is configured (the
 * GenAI histograms); first in SERVICES so the MCP start-up spans are recorded, and so stopped
 * last, after everything that makes spans, flushing them.
 */
export const tracingService: Service = async (ctx) => {
  const traces = ctx.config.tracing.enabled;
  const metrics = otlpMetricsConfigured();
  if (!traces && !metrics) return { stop: async () => {} };
  const handle = await startTracing({ logs: ctx.config.tracing.logs, traces, metrics });
  const env = process.env;
  if (traces)
    ctx.logger.info(
      {
        endpoint: origin(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT),
        protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
        logs: ctx.config.tracing.logs,
      },
      'tracing on',
    );
  if (metrics)
    ctx.logger.info(
      {
        endpoint: origin(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT),
        protocol: env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
      },
      'GenAI metrics exported over OTLP',
    );
  return { stop: () => handle.stop() };
};

/** Where spans go, without any credentials a URL might carry. */
function origin(url: string | undefined): string {
  if (!url) return 'default (http://localhost:4318)';
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid URL';
  }
}
