import type { FastifyInstance } from 'fastify';
import { auditRoutes } from '../audit/routes.ts';
import { metricsRoutes } from '../observability/metrics-route.ts';
import type { AppContext } from './context.ts';
import { opsRoutes } from './ops-routes.ts';
import { providerRoutes } from './provider-routes.ts';

export type RouteRegistrar = (app: FastifyInstance, ctx: AppContext) => void;

/** Every HTTP surface of the bridge, one registrar per concern. */
export const ROUTES: RouteRegistrar[] = [opsRoutes, metricsRoutes, auditRoutes, providerRoutes];
