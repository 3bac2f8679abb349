import { defineConfig } from 'vitest/config';

// Benchmarks: real engines, minutes long, not part of npm test (`npm run bench:rollout`).
export default defineConfig({
  test: {
    include: ['test/bench/**/*.bench.test.ts'],
    globalSetup: ['test/integration/global-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
