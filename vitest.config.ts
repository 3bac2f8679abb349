import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Real engines and processes: one file at a time keeps timings honest on 2 cores.
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
      {
        // `npm run bench:failover`: failover figures next to Docker Swarm (not part of npm test).
        test: {
          name: 'bench',
          include: ['test/bench/**/*.run.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 900_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // `npm run test:chaos -- --faults N`: the randomized soak (not part of npm test).
        test: {
          name: 'chaos-soak',
          include: ['test/chaos/**/*.soak.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 3 * 3600_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
