import { openApiValidator } from './openapi.ts';

export interface ApiAnswer {
  status: number;
  /** Parsed JSON, or undefined for an empty body. */
  body: any;
  headers: Headers;
}

export interface ApiRequest {
  token?: string;
  /** An object is sent as JSON; a string is sent as it is (with a JSON content type). */
  body?: unknown;
  headers?: Record<string, string>;
  /** The component schema a 2xx body must match; errors are always checked against `Error`. */
  schema?: string;
  /** Default `/api/v2/aibridge`. */
  prefix?: string;
}

/** What an error body must never show: stack frames, source paths, network addresses. */
export const INTERNALS = /\bat \S+ \(|node_modules|\/src\/|\.ts:\d|\b\d{1,3}(\.\d{1,3}){3}\b|localhost|ECONN/;

export type Api = (method: string, path: string, request?: ApiRequest) => Promise<ApiAnswer>;

/**
 * Calls the bridge's API and checks every answer against the served OpenAPI document: a 2xx
 * body against `schema`, a 204 is empty, and every error is the one `Error` shape.
 */
export async function apiClient(baseUrl: string): Promise<Api> {
  const validate = await openApiValidator(baseUrl);
  return async (method, path, request = {}) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    }
    const res = await fetch(`${baseUrl}${request.prefix ?? '/api/v2/aibridge'}${path}`, { method, headers, body });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    const where = `${method} ${path} → ${res.status}`;
    if (res.status >= 400) {
      validate('Error', parsed);
      if (INTERNALS.test(text)) throw new Error(`${where}: the error shows internals: ${text}`);
    } else if (res.status === 204 && text !== '') throw new Error(`${where}: a 204 with a body`);
    else if (request.schema && res.status < 300) validate(request.schema, parsed);
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
