import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

  describe('Flags', () => {
    async function usageError(args: string[]): Promise<string> {
      const io = captureIo();
      expect(await main(args, { io, env })).toBe(2);
      expect(io.stdout).toEqual([]);
      expect(io.stderr).toHaveLength(1);
      return io.stderr[0];
    }

    it('names an unknown flag and the command, not the whole help', async () => {
      expect(await usageError(['runs', 'list', '--foo'])).toBe(
        'error: Unknown flag --foo for runs list. Run `pipeline runs list --help` for its flags.',
      );
    });

    it('suggests the closest flag, or the command an unknown flag belongs to', async () => {
      expect(await usageError(['runs', 'list', '--limt', '5'])).toContain(
        'Unknown flag --limt for runs list (did you mean --limit?)',
      );
      expect(await usageError(['runs', 'list', '--snapshot', 'x'])).toContain(
        'Unknown flag --snapshot for runs list (it belongs to runs start)',
      );
    });

    it('names an unknown flag given without a command', async () => {
      expect(await usageError(['--foo'])).toContain('Unknown flag --foo for pipeline.');
      expect(await usageError(['-x'])).toContain('Unknown flag -x for pipeline.');
    });

    it('says which flag needs a value, and which takes none', async () => {
      expect(await usageError(['runs', 'list', '--since'])).toContain('--since needs a value.');
      expect(await usageError(['runs', 'list', '--since', '--status', 'failed'])).toContain(
        '--since needs a value (got the flag --status).',
      );
      expect(await usageError(['client-policy', '--json=yes'])).toContain('--json takes no value (got "yes").');
    });

    it('asks for a subcommand, and names the ones a group has', async () => {
      expect(await usageError(['runs'])).toContain('`runs` needs a subcommand: list, show, start, retry, cancel.');
      expect(await usageError(['runs', 'frob'])).toContain('Unknown command "runs frob": runs takes list, show');
    });

    it('refuses a malformed --region before any AWS call', async () => {
      expect(await usageError(['client-policy', '--region', 'europe'])).toContain(
        '--region "europe" is not an AWS region name',
      );
    });
  });

  describe('--version', () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));

    it("prints package.json's version and exits 0, with or without a command", async () => {
      for (const args of [['--version'], ['runs', 'list', '--version']]) {
        const io = captureIo();
        expect(await main(args, { io, env })).toBe(0);
        expect(io.stdout).toEqual([`pipeline ${version} (aurora-datalake-export)`]);
      }
    });

    it('prints it as JSON with --json', async () => {
      const io = captureIo();
      expect(await main(['--version', '--json'], { io, env })).toBe(0);
      expect(JSON.parse(io.text())).toEqual({ name: 'aurora-datalake-export', version });
    });
  });

  describe('Help', () => {
    it("lists a command's own flags and the global ones, with -h, --help or help <command>", async () => {
      for (const args of [
        ['runs', 'list', '-h'],
        ['runs', 'list', '--help'],
        ['help', 'runs', 'list'],
      ]) {
        const io = captureIo();
        expect(await main(args, { io, env })).toBe(0);
        const text = io.text();
        expect(text).toMatch(/^Usage: pipeline runs list /);
        expect(text).toMatch(/Flags:\n {2}--cluster <value> +Only runs of this source cluster/);
        const globals = text.slice(text.indexOf('Global flags:'));
        for (const flag of ['--config', '--json', '--outputs', '--stack-dir', '--region', '--help', '--version'])
          expect(globals).toContain(flag);
      }
    });
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
    it.each([
      'arn:aws:iam::123456789012:user/aurora-export-copy',
      'arn:aws:sts::123456789012:assumed-role/aurora-export-copy/session',
      'arn:aws:iam::12345:role/aurora-export-copy',
      'aurora-export-copy',
      `arn:aws:iam::123456789012:role/${'r'.repeat(65)}`,
    ])('rejects the malformed --copy-role-arn %s', async (arn) => {
      const io = captureIo();
      expect(await main(['client-policy', '--copy-role-arn', arn], { io, env })).toBe(2);
      expect(io.stderr.join('\n')).toContain(
        `--copy-role-arn "${arn}" is not an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>`,
      );
      expect(io.stdout).toEqual([]);
    });

    it('accepts a role ARN with a path and in another partition', async () => {
      for (const arn of [
        'arn:aws:iam::123456789012:role/pipelines/aurora-export-copy',
        'arn:aws-cn:iam::123456789012:role/x+y=z,a.b@c-d_e',
      ]) {
        const io = captureIo();
        expect(await main(['client-policy', '--json', '--copy-role-arn', arn], { io, env })).toBe(0);
        expect(io.text()).toContain(arn);
      }
    });

    it('rejects a copy role ARN from the environment that is not one', async () => {
      const io = captureIo();
      expect(await main(['client-policy'], { io, env: { ...env, PIPELINE_COPY_ROLE_ARN: 'copy-role' } })).toBe(2);
      expect(io.stderr.join('\n')).toContain('"copy-role" is not an IAM role ARN');
    });

    it.each([
      ['Client_Lake', 'lowercase letters, digits, dots and hyphens'],
      ['ab', '3 to 63 characters'],
      ['client..lake', 'no two adjacent dots'],
      ['192.168.5.4', 'not an IP address'],
      ['xn--lake', 'not starting with xn--'],
      ['lake-s3alias', 'not ending with -s3alias'],
    ])('rejects the bucket name %s', async (bucket, rule) => {
      const io = captureIo();
      expect(await main(['client-policy', '--copy-role-arn', COPY_ROLE, '--bucket', bucket], { io, env })).toBe(2);
      expect(io.stderr.join('\n')).toMatch(
        new RegExp(
          `--bucket "${bucket.replace(/\./g, '\\.')}" is not an S3 bucket name: .*${rule.replace(/[.-]/g, '\\$&')}`,
        ),
      );
    });

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
