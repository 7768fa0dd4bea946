import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where the console's files live: next to this module, in a checkout (src/) and once packed (dist/src/). */
const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** The body gzipped, with its own ETag, for text that shrinks (a few ms at start-up, once). */
  gzip?: { body: Buffer; etag: string };
}

export interface ConsoleAssets {
  /** The page at `/`, its asset URLs pointing at this version's prefix. */
  index: Asset;
  /** Changes whenever any file changes: assets live under `/console/<version>/` and are cached for good. */
  version: string;
  /** By path relative to the assets folder, `/`-separated (`pages/overview.js`). */
  files: Map<string, Asset>;
}

const etagOf = (body: Buffer) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;

function asset(body: Buffer, type: string): Asset {
  const etag = etagOf(body);
  if (type.startsWith('image/png')) return { body, type, etag };
  const zipped = gzipSync(body, { level: 9 });
  return zipped.length < body.length
    ? { body, type, etag, gzip: { body: zipped, etag: `${etag.slice(0, -1)}-gz"` } }
    : { body, type, etag };
}

/**
 * Reads every console file once at start-up (they are small): requests are answered from
 * memory, and no request path ever reaches the file system.
 */
export function loadAssets(dir = ASSETS_DIR): ConsoleAssets {
  const files = new Map<string, Asset>();
  const all = createHash('sha256');
  const entries = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && TYPES[extname(e.name)])
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
  for (const path of entries) {
    const body = readFileSync(join(dir, path));
    all.update(path).update(body);
    files.set(path, asset(body, TYPES[extname(path)] as string));
  }
  const version = all.digest('hex').slice(0, 12);
  const page = files.get('index.html');
  if (!page) throw new Error(`the web console's index.html is missing from ${dir}`);
  files.delete('index.html');
  // Module imports are relative, so pointing the page at the versioned prefix versions them all;
  // preloading every module spares the browser discovering the import graph one level at a time.
  const preload = [...files.keys()]
    .filter((path) => path.endsWith('.js'))
    .map((path) => `<link rel="modulepreload" href="/console/${path}">\n  `)
    .join('');
  const html = page.body
    .toString('utf8')
    .replace('<script type="module"', `${preload}<script type="module"`)
    .replaceAll(/(src|href)="\/console\//g, `$1="/console/${version}/`);
  return { index: asset(Buffer.from(html), page.type), version, files };
}
