/**
 * Mutation testing of the pure domain and of the copy planning: how many deliberate bugs (mutants) the unit
 * tests under __tests__/lambdas/shared catch. `npm run test:mutation` runs it (about a quarter of an hour on
 * 2 cores, so it is not part of CI); `npm run test:mutation -- --mutate 'lambdas/shared/domain/**\/*.ts'`
 * narrows it. Reports go to reports/mutation/ (HTML and JSON), the score per file to the console.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    // The project's own Jest setup (SWC transform), limited to the tests of lambdas/shared.
    configFile: 'jest.config.js',
    config: { testMatch: ['<rootDir>/__tests__/lambdas/shared/**/*.test.ts'] },
    // A mutant in module-level code (a constant, a schema) runs the test files that import its file, not all of them.
    enableFindRelatedTests: true,
  },
  // Each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  mutate: ['lambdas/shared/domain/**/*.ts', 'lambdas/shared/copy/**/*.ts'],
  // The sandbox links node_modules instead of copying it, and leaves out build output and Terraform state.
  // tsconfig.json stays out too: Jest compiles with SWC and never reads it, and Stryker's rewrite of it calls
  // TypeScript's JavaScript API, which TypeScript 7 no longer has.
  symlinkNodeModules: true,
  ignorePatterns: [
    'cdktf.out',
    'build',
    'coverage',
    '.terraform',
    '.gen',
    '*.tfstate',
    '*.tfstate.backup',
    '/tsconfig.json',
  ],
  tempDirName: '.stryker-tmp',
  // The machine is shared: two test processes at most.
  concurrency: 2,
  // A mutant that loops forever is stopped after this (plus 1.5 times the normal run); generous, because a mutant
  // in module-level code reloads every test, which takes tens of seconds on a busy machine.
  timeoutMS: 45000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, reportScoreTable: true, reportMutants: false },
};
