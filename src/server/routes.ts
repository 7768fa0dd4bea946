import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.ts';
import { opsRoutes } from './ops-routes.ts';

export type RouteRegistrar = (app: FastifyInstance, ctx: AppContext) => void;

/** Every HTTP surface of the bridge, one registrar per concern. */
export const ROUTES: RouteRegistrar[] = [opsRoutes];
