import { readFileSync } from 'node:fs';
import { STAGES } from '../../modules/export-pipeline';
import { bundleLambdas, type LambdaZip } from '../../modules/lambda-bundle';
import { handlerEntry } from '../../modules/pipeline-stack';

/**
 * The Lambda bundles a test run shares: the jest global set-up bundles them once and names the file that lists
 * them in this environment variable; a test file run without it (another runner) bundles on first use.
 */
export const BUNDLES_ENV_VAR = 'PIPELINE_TEST_BUNDLES';

/** The small stand-in handler that structure tests bundle for every stage. */
export const FIXTURE_ENTRY = '__tests__/fixtures/handler.ts';

/** What the global set-up writes: each stage bundled from its real handler and from the fixture. */
export interface SharedBundles {
  readonly handlers: LambdaZip[];
  readonly fixture: LambdaZip[];
}

/** Bundles every stage from its real handler, and from the fixture, in the shape the set-up shares them. */
export function bundleAll(): SharedBundles {
  const handlers = bundleLambdas(STAGES.map((name) => ({ name, entry: handlerEntry(name) })));
  const fixture = bundleLambdas(STAGES.map((name) => ({ name, entry: FIXTURE_ENTRY })));
  return { handlers: [...handlers.values()], fixture: [...fixture.values()] };
}

let shared: SharedBundles | undefined;

function sharedBundles(): SharedBundles {
  if (!shared) {
    const file = process.env[BUNDLES_ENV_VAR];
    shared = file ? (JSON.parse(readFileSync(file, 'utf8')) as SharedBundles) : bundleAll();
  }
  return shared;
}

/** Every stage bundled from its real handler. */
export function handlerBundles(): Map<string, LambdaZip> {
  return new Map(sharedBundles().handlers.map((z) => [z.name, z]));
}

/** Every stage bundled from the small fixture handler: structure tests need no real handler. */
export function fixtureBundles(): Map<string, LambdaZip> {
  return new Map(sharedBundles().fixture.map((z) => [z.name, z]));
}
