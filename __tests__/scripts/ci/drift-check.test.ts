import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ciScriptHarness } from './script-harness';

/** Runs scripts/ci/drift-check.sh against a stand-in terraform that exits with a chosen code. */
const { stack, run } = ciScriptHarness('drift-check.sh', {
  terraform: () =>
    '#!/usr/bin/env bash\necho "$@" > "$PWD/args.txt"\necho "plan output"\nexit "$FAKE_TERRAFORM_EXIT"\n',
});

function drift(exit: number) {
  const result = run('production', { FAKE_TERRAFORM_EXIT: String(exit) });
  return { ...result, args: readFileSync(join(stack, 'args.txt'), 'utf8').trim() };
}

describe('Script: drift-check.sh', () => {
  it('plans with the detailed exit code, without a lock or a prompt, in the stack folder', () => {
    expect(drift(0).args).toBe('plan -input=false -lock=false -no-color -detailed-exitcode');
  });

  it('passes when nothing drifted', () => {
    const { status, stdout } = drift(0);
    expect(status).toBe(0);
    expect(stdout).toContain('No drift in production.');
  });

  it('fails loudly on drift (exit 2): an error annotation naming the environment, after the plan', () => {
    const { status, stdout } = drift(2);
    expect(status).toBe(2);
    expect(stdout).toMatch(/plan output\n::error title=Drift in production::The resources of production differ/);
  });

  it('fails as an error of the check itself when the plan fails', () => {
    const { status, stdout } = drift(1);
    expect(status).toBe(1);
    expect(stdout).toContain('::error title=Drift check failed in production::terraform plan failed (exit 1)');
  });
});
