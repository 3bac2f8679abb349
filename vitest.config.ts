import { defineConfig } from 'vitest/config';

/**
 * Integration files whose faults are timed (link cuts against down-after, a leader paused past
 * its lease): they run last, one at a time, with the machine to themselves.
 */
const SERIAL = ['test/chaos/**/*.test.ts', 'test/integration/leader.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: SERIAL,
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Real engines and processes, two files at a time: each file's cluster has its own
          // dockerd, bridge, loopback addresses and ports (test/harness/), and most of a file's
          // time is spent waiting on engines and timers, not on the CPU.
          maxWorkers: 2,
          sequence: { concurrent: false, groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration-serial',
          include: SERIAL,
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { concurrent: false, groupOrder: 1 },
        },
      },
    ],
  },
});
