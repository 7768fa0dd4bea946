// Hash routes (#/interceptions/ID?q=…): the bridge serves one page, deep links still work.
import { queryString } from './api.js';

/** The current route: path segments and the query after `?`. */
export function current() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
}

/** A link target: `href('/sessions', id)` → `#/sessions/<id>`; params become the query. */
export function href(path, ...rest) {
  const params = rest.length && typeof rest.at(-1) === 'object' ? rest.pop() : undefined;
  const segments = rest.map((p) => `/${encodeURIComponent(p)}`).join('');
  return `#${path}${segments}${queryString(params)}`;
}

/** Changes the route without adding a history entry when only the query changes (filters, ranges). */
export function replaceQuery(params) {
  const { parts } = current();
  const target = href(`/${parts.map(encodeURIComponent).join('/')}`, params);
  if (target !== location.hash) history.replaceState(null, '', target);
}

/** Goes to a route; going to the one shown renders it again (a repeated search refreshes). */
export function go(target) {
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}
