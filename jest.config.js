/** Jest runs TypeScript through SWC: no type-checking here (`npm run typecheck` does that), just fast transforms. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: [
    '<rootDir>/__tests__/support/quiet-sdk-node-warning.ts',
    '<rootDir>/__tests__/support/powertools-env.ts',
  ],
  setupFilesAfterEnv: ['<rootDir>/__tests__/support/file-async-hooks.ts'],
  // The Lambdas are bundled once per run and shared with every test file.
  globalSetup: '<rootDir>/__tests__/support/global-setup.ts',
  globalTeardown: '<rootDir>/__tests__/support/global-teardown.ts',
  // Jest's default (one worker fewer than the cores) runs a 2-core machine's suite in one process, one file after
  // the other; the test files mostly wait on emulators and child processes, so one worker per core.
  maxWorkers: '100%',
  reporters: ['default', ['<rootDir>/__tests__/support/slowest-suites-reporter.js', { count: 5 }]],
  testTimeout: 60000,
};
