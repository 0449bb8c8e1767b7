#!/usr/bin/env node
// Entry of the `pipeline` bin: registers tsx so the TypeScript CLI runs without a build step.
require('tsx/cjs');
require('../cli/main.ts').runAsProcess();
