import { defineConfig } from 'vitest/config';

/** `npm run test:agents`: the real Claude Code and Codex CLIs through the bridge, offline. */
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts', 'test/agents/global-setup.ts'],
    include: ['test/agents/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 90_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
  },
});
