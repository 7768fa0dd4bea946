import { loadOpenApi } from './openapi.ts';

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
 * must be a response the document declares for that route, with that body (204: none); an
 * error is the one `Error` shape, and shows no internals. `schema` names the component a 2xx
 * body must also match, to be sure the route answers what the test expects.
 */
export async function apiClient(baseUrl: string): Promise<Api> {
  const openApi = await loadOpenApi(baseUrl);
  return async (method, path, request = {}) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    }
    const prefix = request.prefix ?? '/api/v2/aibridge';
    const res = await fetch(`${baseUrl}${prefix}${path}`, { method, headers, body });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    const where = `${method} ${prefix}${path} → ${res.status}`;
    if (res.status >= 400) {
      openApi.validate('Error', parsed);
      if (INTERNALS.test(text)) throw new Error(`${where}: the error shows internals: ${text}`);
    } else if (API_PREFIXES.includes(prefix)) {
      const declared = openApi.responseSchema(method, path, res.status);
      if (declared === undefined) throw new Error(`${where}: the OpenAPI document declares no such response`);
      if (res.status === 204 && text !== '') throw new Error(`${where}: a 204 with a body`);
      if (declared && res.status !== 204) openApi.validateAgainst(declared, parsed, where);
    }
    if (request.schema && res.status < 300) openApi.validate(request.schema, parsed);
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

const API_PREFIXES = ['/api/v2/aibridge', '/api/v2/ai-gateway'];
