import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Most test files spend their time waiting on child processes, sockets and the test database
// rather than on a core, so twice as many files as cores run at once (vitest's own default is
// one fewer than the cores: on 2 cores, one file after the other). `--maxWorkers N` overrides it.
const workers = Math.max(2, Math.min(2 * availableParallelism(), 8));

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    exclude: ['test/agents/**', 'test/browser/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: workers,
    env: {
      // The test files' processes and the few hundred `aibridge` processes they start keep the
      // code Node compiled, for the next start: about a third less CPU each.
      NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? resolve('.data-test', 'node-compile-cache'),
    },
    testTimeout: 30_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
  },
});
