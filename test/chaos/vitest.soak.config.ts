import { defineConfig } from 'vitest/config';

// The chaos soak (`npm run test:chaos -- --faults N`): real engines, many minutes, not part of npm test.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.soak.ts'],
    globalSetup: ['test/integration/global-setup.ts'],
    testTimeout: 3 * 3600_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
