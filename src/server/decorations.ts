import type { FastifyInstance } from 'fastify';
import type { Principal } from '../identity/users.ts';
import type { JsonScan } from '../limits/json-scan.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: set by the route's auth hook, before the body is read. */
    principal: Principal | null;
    /** Where a JSON body's top-level members lie, found once by the body parser (server/body.ts). */
    bodyScan: JsonScan | undefined;
    /** The caller's own key for the route's provider, read once with the token (README "Bring your own key"). */
    providerKey: string | undefined;
  }
  interface FastifyContextConfig {
    /** A route that takes smaller bodies than limits.body_bytes: the body parser reads no more. */
    bodyBytes?: number;
  }
}

/** What a request carries from one stage to the next, declared once so every stage sees the same shape. */
export function decorateRequests(app: FastifyInstance): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('bodyScan', undefined);
  app.decorateRequest('providerKey', undefined);
}
