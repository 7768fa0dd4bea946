import type { AppContext } from './context.ts';

/** A background job started with the server and stopped, in reverse order, on shutdown. */
export type Service = (ctx: AppContext) => Promise<{ stop(): Promise<void> }>;

/** Background jobs that run beside the HTTP server, one per concern. */
export const SERVICES: Service[] = [];
