import { mcpService } from './mcp.ts';
import { retentionService } from './retention.ts';
import type { Service } from './service.ts';
import { tracingService } from './tracing.ts';

/** Background jobs that run beside the HTTP server, one per concern. Tracing first: it must see the others' spans. */
export const SERVICES: Service[] = [tracingService, retentionService, mcpService];
