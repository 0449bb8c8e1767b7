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
  testTimeout: 60000,
};
