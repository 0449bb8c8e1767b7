import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A scratch folder for running one of `scripts/ci/*.sh`: `bin/` holds stand-ins for the tools it calls (put
 * first on the PATH), `stack/` is the stack folder the script is given. Removed after the file's tests.
 */
export function ciScriptHarness(script: string, tools: Record<string, (dir: string) => string>) {
  const dir = mkdtempSync(join(tmpdir(), `${script.replace(/\.sh$/, '')}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const stack = join(dir, 'stack');
  mkdirSync(bin);
  mkdirSync(stack);
  for (const [name, body] of Object.entries(tools)) {
    writeFileSync(join(bin, name), body(dir));
    chmodSync(join(bin, name), 0o755);
  }
  const path = join(__dirname, '..', '..', '..', 'scripts', 'ci', script);
  return {
    dir,
    stack,
    /** Runs the script for `environment` on the stack folder, with the stand-ins first on the PATH. */
    run: (environment: string, env: Record<string, string> = {}) =>
      spawnSync(path, [environment, stack], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}`, ...env },
      }),
  };
}
