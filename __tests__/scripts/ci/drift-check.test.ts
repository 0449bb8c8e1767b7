import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Runs scripts/ci/drift-check.sh against a stand-in terraform that exits with a chosen code. */
const SCRIPT = join(__dirname, '..', '..', '..', 'scripts', 'ci', 'drift-check.sh');
const dir = mkdtempSync(join(tmpdir(), 'drift-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bin = join(dir, 'bin');
const stack = join(dir, 'stack');
mkdirSync(bin);
mkdirSync(stack);
writeFileSync(
  join(bin, 'terraform'),
  '#!/usr/bin/env bash\necho "$@" > "$PWD/args.txt"\necho "plan output"\nexit "$FAKE_TERRAFORM_EXIT"\n',
);
chmodSync(join(bin, 'terraform'), 0o755);

function drift(exit: number) {
  const result = spawnSync(SCRIPT, ['production', stack], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}`, FAKE_TERRAFORM_EXIT: String(exit) },
  });
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
