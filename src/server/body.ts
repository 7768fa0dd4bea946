import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { MAX_JSON_DEPTH, scanBody } from '../limits/json-scan.ts';

/** Set on a request the bridge has already answered while its body was arriving (408): nothing more to say. */
export const ANSWERED = Symbol('aibridge.answered');

export const tooLargeMessage = (limit: number) => `request body is larger than limits.body_bytes (${limit} bytes)`;

type BodyError = Error & { statusCode: number };
const bodyError = (statusCode: number, message: string): BodyError => Object.assign(new Error(message), { statusCode });

const looksLikeJson = (body: Buffer) => {
  for (const byte of body) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b || byte === 0x5b;
  }
  return false;
};

/** Reads a body up to `limit` bytes; past it (declared or as it arrives) → 413 without reading on. */
function readBody(raw: IncomingMessage, payload: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(raw.headers['content-length']);
    if (declared > limit) {
      reject(bodyError(413, tooLargeMessage(limit)));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        cleanup();
        chunks.length = 0;
        reject(bodyError(413, tooLargeMessage(limit)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (!Number.isNaN(declared) && received !== declared) {
        reject(bodyError(400, 'request body length does not match content-length'));
        return;
      }
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });
}

/**
 * Every body stays a raw Buffer: passthrough forwards it byte for byte, and bridged routes
 * parse it themselves so a bad body gets the provider's own error format. JSON nested deeper
 * than MAX_JSON_DEPTH is refused here (400), for every route, before anything parses it.
 */
export function rawBodyParser(app: FastifyInstance, limit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    // A route may take less than every route does (its config's bodyBytes): read no more than that.
    readBody(request.raw, payload, request.routeOptions.config?.bodyBytes ?? limit).then(
      (body) => {
        // One pass, kept with the request: the interceptor splices into the body with what it found.
        const scan = looksLikeJson(body) ? scanBody(body) : undefined;
        if (scan?.tooDeep) {
          done(bodyError(400, `request body nests JSON deeper than ${MAX_JSON_DEPTH} levels`), undefined);
          return;
        }
        request.bodyScan = scan;
        done(null, body);
      },
      (err: Error & { statusCode?: number }) => {
        // Already answered (body timeout) or the client left: nobody is listening for an error.
        if ((request.raw as { [ANSWERED]?: boolean })[ANSWERED] || request.raw.socket?.destroyed) return;
        done(err.statusCode ? err : bodyError(400, 'request body could not be read'), undefined);
      },
    );
  });
}
