import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLES_ENV_VAR, bundleAll } from './shared-bundles';

/**
 * Jest global set-up: bundles the stage handlers and the fixture handler once for the whole run (zips under
 * build/lambda) and lists them in a file named by {@link BUNDLES_ENV_VAR}, which the test workers inherit,
 * instead of every test file bundling again.
 */
export default function globalSetup(): void {
  const dir = mkdtempSync(join(tmpdir(), 'pipeline-test-bundles-'));
  const file = join(dir, 'bundles.json');
  writeFileSync(file, JSON.stringify(bundleAll()));
  process.env[BUNDLES_ENV_VAR] = file;
}
