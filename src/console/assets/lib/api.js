// Every call to the bridge's API: same-origin cookie, CSRF header on writes, errors in the
// API's one shape ({message, detail, validations}).

export const BASE = '/api/v2/aibridge';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `the server answered ${status}`);
    this.status = status;
    this.detail = body?.detail;
    this.validations = body?.validations ?? [];
  }
}

let onSignedOut = () => {};
/** Called when a request answers 401 with a session that has lapsed (expired, revoked, signed out elsewhere). */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export async function api(path, { method = 'GET', body, params, quiet401 = false } = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-aibridge-csrf'] = '1';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${BASE}${path}${queryString(params)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, { message: 'the bridge cannot be reached', detail: 'check your connection and retry' });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onSignedOut();
    throw new ApiError(res.status, data);
  }
  return data;
}

/** Encodes one path segment (usernames, ids). */
export const seg = (value) => encodeURIComponent(value);
