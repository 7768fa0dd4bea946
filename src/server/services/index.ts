import type { AppContext } from '../context.ts';
import { mcpService } from './mcp.ts';
import { retentionService } from './retention.ts';
import { tracingService } from './tracing.ts';

/** A background job started with the server and stopped, in reverse order, on shutdown. */
export type Service = (ctx: AppContext) => Promise<{ stop(): Promise<void> }>;

/** Background jobs that run beside the HTTP server, one per concern. Tracing first: it must see the others' spans. */
export const SERVICES: Service[] = [tracingService, retentionService, mcpService];
