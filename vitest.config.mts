import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The simulator, Samba and the Pulumi CLI are real processes: give them time, never retry to hide flakiness.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores on our machines; real servers per file are heavy, so keep files from piling up.
    maxWorkers: 2,
  },
})
