import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../config/load';
import { exampleEnvironment } from '../support/example-config';
import { flattenOutputs, locateStack, requireStack, STACK_NAME } from '../../cli/stack';
import { STACK_ID } from '../../modules/pipeline-stack';
import { StackNotFound } from '../../cli/errors';

const localConfig = parseConfig({ ...exampleEnvironment(), backend: { type: 'local', path: 'terraform.tfstate' } });
const s3Config = parseConfig({
  ...exampleEnvironment(),
  backend: { type: 's3', bucket: 'tf-state', key: 'pipeline.tfstate', region: 'eu-west-1' },
});
const tfOutputs = {
  run_table_name: { value: 'aurora-export-runs', type: 'string', sensitive: false },
  pipeline_topic_arn: {
    value: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline',
    type: 'string',
    sensitive: false,
  },
  copy_role_arn: { value: 'arn:aws:iam::123456789012:role/aurora-export-copy', type: 'string', sensitive: false },
  function_arns: {
    value: { copy: 'arn:aws:lambda:eu-west-1:123456789012:function:aurora-export-copy' },
    type: ['object', { copy: 'string' }],
    sensitive: false,
  },
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pipeline-stack-'));
}

describe('Function: flattenOutputs', () => {
  it('reads `terraform output -json` and flat objects alike, ignoring non-string values', () => {
    expect(flattenOutputs({ a: { value: 'x', type: 'string' }, b: 'y', c: { value: { nested: 1 } } })).toEqual({
      a: 'x',
      b: 'y',
    });
  });

  it('names each string of a map output `name.key`, so the copy function ARN is read from function_arns', () => {
    const out = flattenOutputs({
      function_arns: {
        value: { copy: 'arn:aws:lambda:eu-west-1:123456789012:function:aurora-export-copy', start: 's' },
        type: ['object'],
      },
    });
    expect(out).toEqual({
      'function_arns.copy': 'arn:aws:lambda:eu-west-1:123456789012:function:aurora-export-copy',
      'function_arns.start': 's',
    });
  });
});

describe('Function: locateStack', () => {
  it('reads the outputs of a local state file in the stack folder', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'terraform.tfstate'), JSON.stringify({ version: 4, outputs: tfOutputs }));
    const stack = locateStack({ config: localConfig, env: {}, stackDir: dir });
    expect(stack.info.tableName).toBe('aurora-export-runs');
    expect(stack.info.copyRoleArn).toBe('arn:aws:iam::123456789012:role/aurora-export-copy');
    expect(stack.info.copyFunctionArn).toBe('arn:aws:lambda:eu-west-1:123456789012:function:aurora-export-copy');
    expect(stack.source).toContain('terraform.tfstate');
  });

  it('asks terraform for the outputs of a remote backend once the folder is initialized', () => {
    const dir = tempDir();
    mkdirSync(join(dir, '.terraform'));
    const calls: string[] = [];
    const stack = locateStack({
      config: s3Config,
      env: {},
      stackDir: dir,
      terraformOutput: (d) => {
        calls.push(d);
        return JSON.stringify(tfOutputs);
      },
    });
    expect(calls).toEqual([dir]);
    expect(stack.info.pipelineTopicArn).toBe('arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline');
  });

  it('explains a failing `terraform output` with the fix', () => {
    const dir = tempDir();
    mkdirSync(join(dir, '.terraform'));
    expect(() =>
      locateStack({
        config: s3Config,
        env: {},
        stackDir: dir,
        terraformOutput: () => {
          throw new Error('Backend initialization required');
        },
      }),
    ).toThrow(/terraform output -json` failed.*Backend initialization required.*--outputs/);
  });

  it('prefers an outputs file, and lets environment variables override single values', () => {
    const file = join(tempDir(), 'outputs.json');
    writeFileSync(file, JSON.stringify(tfOutputs));
    const stack = locateStack({
      config: localConfig,
      env: { PIPELINE_TABLE_NAME: 'emulated-runs' },
      outputsFile: file,
      stackDir: '/nonexistent',
    });
    expect(stack.info.tableName).toBe('emulated-runs');
    expect(stack.info.copyRoleArn).toBe('arn:aws:iam::123456789012:role/aurora-export-copy');
    expect(stack.source).toMatch(/outputs file .* \+ environment overrides/);
  });

  it('names an unreadable outputs file and how to write it', () => {
    expect(() => locateStack({ config: localConfig, env: {}, outputsFile: '/nonexistent/out.json' })).toThrow(
      /terraform output -json > \/nonexistent\/out.json/,
    );
  });
});

describe('Constant: STACK_NAME', () => {
  it('is the id main.ts synthesizes the stack under, so the default stack folder exists after synth', () => {
    expect(STACK_NAME).toBe(STACK_ID);
  });
});

describe('Function: requireStack', () => {
  it('lists every missing value with its output name and environment variable', () => {
    const stack = locateStack({ config: localConfig, env: {}, stackDir: '/nonexistent' });
    let error: unknown;
    try {
      requireStack(stack, ['tableName', 'pipelineTopicArn']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StackNotFound);
    expect((error as Error).message).toMatch(
      /run_table_name \(or env PIPELINE_TABLE_NAME\), pipeline_topic_arn \(or env PIPELINE_TOPIC_ARN\).*cdktf deploy/,
    );
  });
});
