import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BUNDLES_ENV_VAR } from './shared-bundles';

/** Jest global tear-down: removes the list of shared bundles (the zips stay in build/lambda, keyed on content). */
export default function globalTeardown(): void {
  const file = process.env[BUNDLES_ENV_VAR];
  if (file) rmSync(dirname(file), { recursive: true, force: true });
}
