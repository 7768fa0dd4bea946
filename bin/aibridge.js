#!/usr/bin/env node
// A checkout runs the TypeScript sources (Node 24 strips types); the packed package carries
// no src/, only the JavaScript compiled at prepack (Node strips no types under node_modules).
import { existsSync } from 'node:fs';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`aibridge: needs Node.js 24 or newer, this is ${process.version}\n`);
  process.exit(1);
}
const source = new URL('../src/cli.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/src/cli.js', import.meta.url).href);
