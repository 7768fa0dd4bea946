import type { FastifyInstance } from 'fastify';
import { consoleRoutes } from './console-routes.ts';
import type { AppContext } from './context.ts';
import { mcpRoutes } from './mcp-route.ts';
import { metricsRoutes } from './metrics-route.ts';
import { opsRoutes } from './ops-routes.ts';
import { providerRoutes } from './provider-routes.ts';

export type RouteRegistrar = (app: FastifyInstance, ctx: AppContext) => void;

/**
 * The HTTP surfaces beside the API (server/api/), one registrar per concern; the bridge's own MCP
 * server answers `/mcp`, the web console `/`.
 */
export const ROUTES: RouteRegistrar[] = [opsRoutes, metricsRoutes, providerRoutes, mcpRoutes, consoleRoutes];
