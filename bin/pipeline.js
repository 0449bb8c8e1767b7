#!/usr/bin/env node
// Entry of the `pipeline` bin: registers tsx so the TypeScript CLI runs without a build step.
require('tsx/cjs');
const { main } = require('../cli/main.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
