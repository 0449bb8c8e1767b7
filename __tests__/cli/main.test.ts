import { main } from '../../cli/main';
import { captureIo } from './support/io';

const COPY_ROLE = 'arn:aws:iam::123456789012:role/aurora-export-copy';
/** The example's production environment, with no stack anywhere: the stack folder does not exist. */
const env = { PIPELINE_STACK_DIR: '/nonexistent/stack', PIPELINE_ENVIRONMENT: 'production' };

describe('Function: main', () => {
  it('lists the commands and exits 2 when no command is given', async () => {
    const io = captureIo();
    expect(await main([], { io, env })).toBe(2);
    expect(io.text()).toContain('client-policy');
  });

  it('rejects an unknown command with exit code 2 and a pointer to help', async () => {
    const io = captureIo();
    expect(await main(['frobnicate'], { io, env })).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/Unknown command "frobnicate".*pipeline help/);
  });

  it('rejects an unknown flag with the usage of the command', async () => {
    const io = captureIo();
    expect(await main(['client-policy', '--nope'], { io, env })).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--nope.*Usage: pipeline client-policy/);
  });

  it('reports an invalid configuration file with every problem, without a stack trace', async () => {
    const io = captureIo();
    expect(await main(['client-policy', '--config', '/nonexistent/pipeline.json'], { io, env })).toBe(1);
    expect(io.stderr.join('\n')).toContain('Invalid configuration in /nonexistent/pipeline.json');
    expect(io.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('asks which environment when the configuration has several and none is named', async () => {
    const io = captureIo();
    expect(await main(['client-policy'], { io, env: { PIPELINE_STACK_DIR: '/nonexistent/stack' } })).toBe(1);
    expect(io.stderr.join('\n')).toContain('choose one of development, production');
  });

  it('prints the error as JSON on stdout with --json', async () => {
    const io = captureIo();
    expect(await main(['client-policy', '--json'], { io, env })).toBe(1);
    expect(JSON.parse(io.text()).error.name).toBe('StackNotFound');
  });

  describe('Command: client-policy', () => {
    it('explains how to provide the copy role when no stack is deployed', async () => {
      const io = captureIo();
      expect(await main(['client-policy'], { io, env })).toBe(1);
      expect(io.stderr.join('\n')).toMatch(
        /copy role ARN is unknown.*--copy-role-arn arn:aws:iam::<account>:role\/aurora-export-copy/,
      );
    });

    it('prints the three documents as JSON with the copy role from the environment', async () => {
      const io = captureIo();
      expect(
        await main(['client-policy', '--json', '--bucket', 'client-lake'], {
          io,
          env: { ...env, PIPELINE_COPY_ROLE_ARN: COPY_ROLE },
        }),
      ).toBe(0);
      const out = JSON.parse(io.text());
      expect(Object.keys(out)).toEqual(expect.arrayContaining(['accessPointPolicy', 'bucketPolicy', 'kmsKeyPolicy']));
      expect(out.bucketPolicy.Statement[0].Resource).toContain('arn:aws:s3:::client-lake/me3/me3-serverless/*');
    });

    it('prints each document under a heading that names the resource', async () => {
      const io = captureIo();
      expect(await main(['client-policy', '--copy-role-arn', COPY_ROLE], { io, env })).toBe(0);
      expect(io.text()).toContain('# Access point policy (arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake)');
      expect(io.text()).toContain('# KMS key policy (arn:aws:kms:eu-west-1:210987654321:key/');
    });
  });
});
