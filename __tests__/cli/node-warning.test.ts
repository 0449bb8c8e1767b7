import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

/** The process environment without the SDK's switch and without the blanket NODE_NO_WARNINGS. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  delete env.NODE_NO_WARNINGS;
  return env;
}

describe('The AWS SDK Node version warning', () => {
  it('is not printed by the CLI, whatever Node runs it, while the command still fails with its own error', async () => {
    const result = await run(process.execPath, [join(root, 'bin', 'pipeline.js'), 'runs', 'list'], {
      cwd: root,
      env: {
        ...plainEnv(),
        PIPELINE_ENVIRONMENT: 'production',
        PIPELINE_TABLE_NAME: 'runs',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'eu-west-1',
        AWS_MAX_ATTEMPTS: '1',
      },
    }).catch((e: { stderr: string; code: number }) => e);
    expect(result.stderr).toMatch(/^error: /m);
    expect(result.stderr).not.toContain('NodeVersionSupportWarning');
    expect(result.stderr).not.toContain('(node:');
  });

  it('is not emitted in the test suite, and other warnings still are', () => {
    const emitted = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      new S3Client({ region: 'eu-west-1' });
      process.emitWarning('another warning');
      expect(emitted.mock.calls.map((c) => String(c[0]))).toEqual(['another warning']);
    } finally {
      emitted.mockRestore();
    }
  });
});
