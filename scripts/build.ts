// Compiles src/ into dist/ for the packed package (run by `npm pack` through prepack).
// A checkout never needs this: Node runs src/**/*.ts directly.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const tsc = join(dirname(fileURLToPath(import.meta.resolve('typescript/package.json'))), 'bin', 'tsc');

rmSync(dist, { recursive: true, force: true }); // tsc never deletes outputs of removed sources
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

// Files under src/ that are not TypeScript (console assets, SQL, …) are read next to their
// module at run time, so they go to the same place in dist/.
for (const entry of readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
  const from = join(entry.parentPath, entry.name);
  cpSync(from, join(dist, relative(root, from)));
}
