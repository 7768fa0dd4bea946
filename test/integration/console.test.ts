import { get, type IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUERY_KEYS } from '../../src/audit/query.ts';
import { startTestBridge, type TestBridge } from '../helpers/bridge.ts';
import { type TestStore, testEmbeddedStore } from '../helpers/db.ts';

let store: TestStore;
let bridge: TestBridge;
let html: string;

beforeAll(async () => {
  store = testEmbeddedStore();
  bridge = await startTestBridge(store);
  html = await (await fetch(`${bridge.url}/`)).text();
});
afterAll(async () => {
  await bridge.close();
  await store.close();
});

/** Every `src`/`href` of the page that points at the console's files. */
const assetUrls = (page: string) => [...page.matchAll(/(?:src|href)="(\/console\/[^"]+)"/g)].map((m) => m[1] as string);

describe('the web console over HTTP', () => {
  it('serves the page at / with a strict CSP and the other security headers, revalidated on every load', async () => {
    const res = await fetch(`${bridge.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const etag = res.headers.get('etag') as string;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${bridge.url}/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await fetch(`${bridge.url}/`, { method: 'HEAD' })).status).toBe(200);
  });

  it('has no inline script, inline style or event-handler attributes', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\ssrc="\/console\//);
      expect(body?.trim()).toBe('');
    }
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//); // nothing from elsewhere: no CDN
  });

  it('serves every file the page and its modules load, with its content type, cached for good under its version', async () => {
    const seen = new Set<string>();
    const queue = assetUrls(html);
    expect(queue.some((u) => u.endsWith('/main.js'))).toBe(true);
    expect(queue.some((u) => u.endsWith('/app.css'))).toBe(true);
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
    };
    while (queue.length) {
      const url = queue.shift() as string;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await fetch(`${bridge.url}${url}`);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toBe(types[url.split('.').pop() as string]);
      expect(res.headers.get('cache-control'), url).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options'), url).toBe('nosniff');
      const body = await res.text();
      if (!url.endsWith('.js')) continue;
      // Relative imports resolve under the same versioned prefix.
      for (const [, spec] of body.matchAll(/^import [^'"]*'([^']+)';$/gm)) {
        expect(spec, url).toMatch(/^\.\.?\//);
        queue.push(new URL(spec as string, `http://x${url}`).pathname);
      }
      // Recorded prompts and tool output are untrusted: the console never parses text as HTML,
      // and sets no inline styles (the CSP would refuse them).
      expect(body, url).not.toMatch(
        /\.(?:inner|outer)HTML\b|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\(/,
      );
      expect(body, url).not.toMatch(/['"]style['"]|\.style\b/);
      expect(body, url).not.toMatch(/localStorage|sessionStorage/);
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('sends text gzipped to clients that take it, with its own ETag, and as it is to the rest', async () => {
    const main = assetUrls(html).find((u) => u.endsWith('/main.js')) as string;
    const raw = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((done, fail) => {
        get(`${bridge.url}${path}`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        }).on('error', fail);
      });
    for (const path of ['/', main]) {
      const plain = await raw(path, { 'accept-encoding': 'identity' });
      const zipped = await raw(path, { 'accept-encoding': 'gzip, deflate, br' });
      expect(plain.headers['content-encoding'], path).toBeUndefined();
      expect(zipped.headers['content-encoding'], path).toBe('gzip');
      expect(zipped.headers.vary, path).toBe('accept-encoding');
      expect(gunzipSync(zipped.body).equals(plain.body), path).toBe(true);
      expect(zipped.body.length, path).toBeLessThan(plain.body.length);
      expect(zipped.headers.etag, path).not.toBe(plain.headers.etag);
      expect((await raw(path, { 'accept-encoding': 'gzip;q=0' })).headers['content-encoding'], path).toBeUndefined();
      const revalidated = await raw(path, {
        'accept-encoding': 'gzip',
        'if-none-match': zipped.headers.etag as string,
      });
      expect(revalidated.status, path).toBe(304);
    }
  });

  it('answers 404 for unknown console paths and old versions, and leaves the other routes alone', async () => {
    const main = assetUrls(html).find((u) => u.endsWith('/main.js')) as string;
    const version = main.split('/')[2];
    for (const path of [
      `/console/${version}/nope.js`,
      `/console/${version}/index.html`,
      `/console/${version}/`,
      '/console/0123456789ab/main.js',
      '/console/main.js',
      '/console/',
    ]) {
      const res = await fetch(`${bridge.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual({ message: expect.any(String) });
    }
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${bridge.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${bridge.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${bridge.url}/api/v2/aibridge/session`)).status).toBe(401);
  });
});

describe('the console beside the API', () => {
  it('offers exactly the q keys the audit API reads', async () => {
    // The browser cannot import the server's TypeScript: its copy of the list is held to it here.
    const consoleQuery = await import(new URL('../../src/console/assets/lib/query.js', import.meta.url).href);
    expect(consoleQuery.KEYS).toEqual([...QUERY_KEYS]);
  });
});
