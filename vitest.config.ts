import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no services; `integration` runs against the real ClickHouse
// server and Kafka that the global setup brings up (and the embedded chDB in each worker).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          // chDB opens one data folder per process: each test file gets its own process.
          pool: 'forks',
          isolate: true,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
