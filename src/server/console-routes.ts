import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Asset, loadAssets } from '../console/assets.ts';
import type { AppContext } from './context.ts';

/** No inline script or style anywhere, nothing from elsewhere, no framing (README "Web console"). */
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** Whether the client takes gzip (listed, and not with q=0). */
function takesGzip(request: FastifyRequest): boolean {
  return String(request.headers['accept-encoding'] ?? '')
    .split(',')
    .some((entry) => {
      const [name, ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return (name === 'gzip' || name === '*') && (q === undefined || Number(q.slice(2)) > 0);
    });
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset, cacheControl: string) {
  const variant = asset.gzip && takesGzip(request) ? asset.gzip : undefined;
  reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', cacheControl)
    .header('etag', variant?.etag ?? asset.etag)
    .type(asset.type);
  if (asset.gzip) reply.header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === (variant?.etag ?? asset.etag)) return reply.code(304).send();
  if (variant) reply.header('content-encoding', 'gzip');
  return reply.send(variant?.body ?? asset.body);
}

/**
 * The web console: the page at `/` and its files under `/console/<version>/`. The page is
 * revalidated on every load; files are immutable under their version, which changes with
 * any file, so an upgrade never mixes old and new modules. The API stays where it is.
 */
export function consoleRoutes(app: FastifyInstance, _ctx: AppContext): void {
  const assets = loadAssets();
  app.get('/', (request, reply) => send(request, reply, assets.index, 'no-cache'));
  app.get<{ Params: { version: string; '*': string } }>('/console/:version/*', (request, reply) => {
    const asset = request.params.version === assets.version ? assets.files.get(request.params['*']) : undefined;
    if (!asset) return reply.code(404).send({ message: `no console file ${request.url.split('?')[0]}` });
    return send(request, reply, asset, 'public, max-age=31536000, immutable');
  });
}
