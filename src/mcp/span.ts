/**
 * MCP spans go through the shared tracing helpers: a no-op check while tracing is off, and
 * the live tracer (not one cached at import) once it is on.
 */
export { inSpan } from '../observability/tracing.ts';
