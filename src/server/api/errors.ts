import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { TooBroadError } from '../../store/store.ts';
import type { AppContext } from '../context.ts';

export interface Validation {
  field: string;
  detail: string;
}

/** The one error body of every non-provider route (README "API"): `message`, optional `detail` and `validations`. */
interface ApiErrorBody {
  message: string;
  detail?: string;
  validations?: Validation[];
}

/** A refusal with its status; raised anywhere in an API handler, answered by `sendApiError`. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail?: string;
  readonly validations?: Validation[];
  constructor(status: number, message: string, extra: { detail?: string; validations?: Validation[] } = {}) {
    super(message);
    this.status = status;
    this.detail = extra.detail;
    this.validations = extra.validations;
  }
}

/** A 400 lists at most this many problems, then how many more: a 64 KiB query of bad terms is not a 2 MB answer. */
const MAX_VALIDATIONS = 20;

export const invalid = (validations: Validation[], message = 'invalid query parameters') => {
  const more = validations.length - MAX_VALIDATIONS;
  const shown =
    more > 0
      ? [
          ...validations.slice(0, MAX_VALIDATIONS),
          { field: validations[MAX_VALIDATIONS]?.field ?? 'q', detail: `and ${more} more problems` },
        ]
      : validations;
  return new ApiError(400, message, { validations: shown });
};

/** The store did not answer: a clear 503 rather than a 500 after a long wait. */
export const storeUnavailable = () =>
  new ApiError(503, 'the store is unavailable', {
    detail: 'records and users cannot be read right now; retry shortly',
  });

/** Runs store work; an outage answers 503 within a second instead of a 500 after a long wait. */
export async function guard<T>(ctx: Pick<AppContext, 'store'>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TooBroadError) throw new ApiError(400, 'the query matches too much', { detail: err.message });
    if (err instanceof ApiError || ctx.store.isPermanent(err)) throw err;
    throw storeUnavailable();
  }
}

function bodyOf(err: ApiError): ApiErrorBody {
  const body: ApiErrorBody = { message: err.message };
  if (err.detail) body.detail = err.detail;
  if (err.validations) body.validations = err.validations;
  return body;
}

/** The API reads JSON bodies of at most this many bytes. */
export const API_BODY_BYTES = 1024 * 1024;

const bytes = (n: number) => (n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`);

/** Fastify's own refusals, said so that a caller knows what to change. */
const FASTIFY_MESSAGES: Record<string, (request: FastifyRequest) => string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (request) =>
    `the request body is larger than ${bytes(Math.min(request.routeOptions.bodyLimit ?? API_BODY_BYTES, API_BODY_BYTES))}`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => 'send the request body as application/json',
};

/** The field a schema error is about: its path, the property missing or not allowed, else the body itself. */
function fieldOf(instancePath: string, params: Record<string, unknown> | undefined): string {
  const path = instancePath.replace(/^\//, '').replaceAll('/', '.');
  const property = (params?.missingProperty ?? params?.additionalProperty) as string | undefined;
  if (property) return path ? `${path}.${property}` : property;
  return path || 'body';
}

/**
 * Answers any error of an API route in the one shape. Fastify's own schema failures become
 * validations; anything unexpected is logged with the request id and shown as an internal
 * error naming that id, never with its message or stack.
 */
export function sendApiError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ApiError) {
    if (err.status === 503) reply.header('retry-after', '5');
    return reply.code(err.status).send(bodyOf(err));
  }
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) {
    const validations = fastifyError.validation.map((v) => ({
      field: fieldOf(v.instancePath, v.params),
      detail: v.message ?? 'is invalid',
    }));
    return reply
      .code(400)
      .send(bodyOf(invalid(validations, `invalid request ${fastifyError.validationContext ?? 'body'}`)));
  }
  const status = fastifyError.statusCode;
  const known = FASTIFY_MESSAGES[fastifyError.code];
  if (known) return reply.code(status ?? 400).send({ message: known(request) });
  if (status && status >= 400 && status < 500) return reply.code(status).send({ message: fastifyError.message });
  request.log.error({ err, request_id: request.id }, 'API request failed');
  return reply.code(500).send({ message: 'internal error', detail: `request id ${request.id}` });
}

/** A query-string parameter given at most once: they arrive as a string, an array (repeated) or not at all. */
export function single(query: Record<string, unknown>, name: string, problems: Validation[]): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  problems.push({ field: name, detail: `"${name}" must be given once` });
  return undefined;
}
