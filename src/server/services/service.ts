import type { AppContext } from '../context.ts';

/** A background job started with the server and stopped, in reverse order, on shutdown. */
export type Service = (ctx: AppContext) => Promise<{ stop(): Promise<void> }>;
