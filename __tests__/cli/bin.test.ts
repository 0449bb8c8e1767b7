import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

describe('Bin: pipeline', () => {
  it('runs the TypeScript CLI from the package bin without a build step', async () => {
    const { stdout } = await run(process.execPath, [join(root, 'bin', 'pipeline.js'), 'help'], {
      cwd: root,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    expect(stdout).toContain('Usage: pipeline <command> [flags]');
    expect(stdout).toMatch(/runs list\s+List runs/);
  });

  it('ends quietly when its reader closes the output early', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'pipeline.js'), 'help'], {
      cwd: root,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  });

  it('exits with the command exit code', async () => {
    await expect(
      run(process.execPath, [join(root, 'bin', 'pipeline.js'), 'nonsense'], {
        cwd: root,
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
      }),
    ).rejects.toMatchObject({ code: 2 });
  });
});
