/**
 * A browser without a screen, for sign-in flows over plain HTTP: it keeps cookies (by host,
 * path and name, honouring expiry), follows redirects itself so a test can stop at a
 * callback URL, and fills and submits the HTML forms the identity provider serves — what a
 * person's browser does, minus scripts (the provider's auto-submitting pages are submitted
 * as their script would).
 */

interface Cookie {
  host: string;
  path: string;
  name: string;
  value: string;
}

export interface Form {
  id?: string;
  action: string;
  method: string;
  /** Every named input's value, hidden ones included. */
  fields: Record<string, string>;
}

export interface Page {
  url: string;
  status: number;
  html: string;
  forms: Form[];
}

/** Decides what to send for a form: the values to set, or undefined to stop walking there. */
export type FormAnswer = (form: Form, page: Page) => Record<string, string | undefined> | undefined;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'" };

const decode = (text: string) =>
  text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => {
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#') && name !== '#39') return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name.toLowerCase()] ?? whole;
  });

function attributes(tag: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    found[(m[1] as string).toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return found;
}

export function parseForms(html: string, base: string): Form[] {
  const forms: Form[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1] as string);
    const fields: Record<string, string> = {};
    for (const input of (m[2] as string).matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1] as string);
      if (a.name) fields[a.name] = a.value ?? '';
    }
    forms.push({
      id: attrs.id,
      action: new URL(attrs.action ?? base, base).href,
      method: (attrs.method ?? 'get').toUpperCase(),
      fields,
    });
  }
  return forms;
}

/**
 * Signs in with these credentials on a login form; any other form is submitted as it is. A
 * refused sign-in (the form again, with 401) ends the walk there.
 */
export const loginAs =
  (username: string, password: string): FormAnswer =>
  (form, page) => {
    if (page.status === 401) return undefined;
    return 'password' in form.fields ? { username, password } : {};
  };

export class HttpBrowser {
  readonly #cookies: Cookie[] = [];

  #cookieHeader(url: URL): string | undefined {
    const matching = this.#cookies.filter((c) => c.host === url.host && url.pathname.startsWith(c.path));
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  #keep(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...rest] = line.split(';');
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      let path = '/';
      let expired = false;
      for (const attr of rest) {
        const [k = '', v = ''] = attr.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'path' && v) path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const index = this.#cookies.findIndex((c) => c.host === url.host && c.path === path && c.name === name);
      if (index >= 0) this.#cookies.splice(index, 1);
      if (!expired) this.#cookies.push({ host: url.host, path, name, value });
    }
  }

  /** One request, no redirect followed. */
  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html' };
    const cookie = this.#cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(target, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    });
    this.#keep(target, response.headers.getSetCookie());
    return response;
  }

  /**
   * Goes to `url` and on: follows redirects, and answers each form with `answer` (its own
   * fields merged with what the answer returns). Stops at the first redirect `stopAt` accepts
   * (returning that URL without requesting it), at a page without a form, or when the answer
   * is undefined.
   */
  async walk(
    url: string,
    options: { answer?: FormAnswer; stopAt?: (url: string) => boolean; maxSteps?: number } = {},
  ): Promise<{ stoppedAt?: string; page?: Page }> {
    const answer = options.answer ?? (() => ({}));
    let next: { url: string; method?: string; form?: Record<string, string> } = { url };
    for (let step = 0; step < (options.maxSteps ?? 25); step++) {
      const response = await this.request(next.url, next);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const target = new URL(location, next.url).href;
        if (options.stopAt?.(target)) return { stoppedAt: target };
        next = { url: target };
        continue;
      }
      const html = await response.text();
      const page: Page = { url: next.url, status: response.status, html, forms: parseForms(html, next.url) };
      const form = page.forms[0];
      if (!form) return { page };
      const values = answer(form, page);
      if (!values) return { page };
      const fields: Record<string, string> = { ...form.fields };
      for (const [name, value] of Object.entries(values)) if (typeof value === 'string') fields[name] = value;
      if (form.method === 'GET') {
        const target = new URL(form.action);
        for (const [k, v] of Object.entries(fields)) target.searchParams.set(k, v);
        next = { url: target.href };
      } else {
        next = { url: form.action, method: 'POST', form: fields };
      }
    }
    throw new Error(`no end after ${options.maxSteps ?? 25} steps from ${url}`);
  }
}
