import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql@16 has no "exports": Node (and so the built app, and yoga under vitest) loads its
    // CommonJS build, while vite would hand our sources the ESM one — two copies, and
    // `instanceof GraphQLError` or a schema from "another realm" fail only in tests.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    // The dashboard's pure logic is tested beside it, under web/test.
    include: ['test/**/*.test.ts', 'web/test/**/*.test.ts'],
    // Builds dist/ if src/ changed since: the process tests run the built CLI.
    globalSetup: ['test/global-setup.ts'],
    // Integration tests talk to real Redis, PostgreSQL and child processes.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more files at once only adds contention.
    maxWorkers: 2,
  },
});
