import { startTracing } from '../../observability/tracing.ts';
import type { Service } from './index.ts';

/**
 * Starts OpenTelemetry when `tracing.enabled`; first in SERVICES so the MCP start-up spans
 * are recorded, and so stopped last, after everything that makes spans, flushing them.
 */
export const tracingService: Service = async (ctx) => {
  if (!ctx.config.tracing.enabled) return { stop: async () => {} };
  const handle = await startTracing({ logs: ctx.config.tracing.logs });
  ctx.logger.info(
    {
      endpoint: origin(process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT),
      protocol:
        process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
      logs: ctx.config.tracing.logs,
    },
    'tracing on',
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
