import { readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The same modules run as src/**/*.ts in a checkout and as dist/src/**/*.js once packed
// (Node strips no types under node_modules), so anything that finds files by its own
// location asks here instead of assuming one layout.
const here = fileURLToPath(import.meta.url);
const compiled = extname(here) === '.js';

/** The package's root: where package.json, schemas/ and (in a checkout) .tools/ live. */
export const PACKAGE_ROOT = resolve(dirname(here), compiled ? '../..' : '..');

/**
 * A module next to `from` (the caller's import.meta.url), named without extension: `.ts` in
 * a checkout, `.js` once compiled. For what import specifiers cannot cover: Worker files,
 * child processes. (tsc rewrites `./x.ts` only in import specifiers, not in URL strings.)
 */
export function siblingModule(from: string | URL, name: string): URL {
  return new URL(`${name}${compiled ? '.js' : '.ts'}`, from);
}

/** The embedded store's file in data_dir: admin commands look for it before opening anything. */
export const EMBEDDED_STORE_FILE = 'aibridge.db';

export const embeddedStorePath = (dataDir: string) => join(dataDir, EMBEDDED_STORE_FILE);

let version: string | undefined;
/** package.json's version, read once at run time (it is not part of the compiled output). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
