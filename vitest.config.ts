import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Dawn is a native addon: separate processes, not worker threads. Two cores here.
    pool: 'forks',
    maxWorkers: 2,
    // The overload soak checks the JS heap returns to its baseline, which needs a real gc().
    execArgv: ['--expose-gc'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
