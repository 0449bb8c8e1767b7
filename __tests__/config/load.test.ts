import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  environmentsFrom,
  jsonErrorOffset,
  loadConfigFile,
  loadEnvironment,
  parseConfigFile,
  SINGLE_ENVIRONMENT,
} from '../../config/load';
import type { PipelineConfigInput } from '../../config/schema';
import example from '../../config/example.json';
import { exampleEnvironment } from '../support/example-config';

const dir = mkdtempSync(join(tmpdir(), 'pipeline-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(text: string): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, text);
  return file;
}

/** The problems a configuration fails with, one line each. */
function problems(input: unknown): string[] {
  try {
    parseConfigFile(input, 'test.json');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.expected}`);
    throw e;
  }
  return [];
}

function env(change: (c: PipelineConfigInput & Record<string, unknown>) => object = (c) => c): object {
  return change(exampleEnvironment() as PipelineConfigInput & Record<string, unknown>);
}

function development(): PipelineConfigInput & Record<string, unknown> {
  return structuredClone(example.environments.development) as PipelineConfigInput & Record<string, unknown>;
}

describe('Function: parseConfigFile', () => {
  it('reads every environment of the shipped example, $schema and all', () => {
    const environments = parseConfigFile(example, 'config/example.json');
    expect(environments.map((e) => e.name)).toEqual(['development', 'production']);
    expect(environments[1].config.accountId).toBe('444455556666');
    expect(environments[1].config.backend).toMatchObject({ type: 's3', useLockfile: true });
  });

  it('reads a file of one pipeline as one environment named after the single stack, its account optional', () => {
    const { accountId: _, assumeRole: __, ...single } = exampleEnvironment() as Record<string, unknown>;
    const [only] = parseConfigFile({ $schema: './pipeline.schema.json', ...single });
    expect(only.name).toBe(SINGLE_ENVIRONMENT);
    expect(only.config.accountId).toBeUndefined();
  });

  it('requires the account of every environment', () => {
    const { accountId: _, ...noAccount } = exampleEnvironment() as Record<string, unknown>;
    expect(problems({ environments: { production: noAccount } })).toEqual([
      'environments.production.accountId: required (string)',
    ]);
  });

  it('says what type it expected and what it got, instead of "required"', () => {
    expect(problems({ environments: { production: env((c) => ({ ...c, exportRetentionDays: '7' })) } })).toEqual([
      'environments.production.exportRetentionDays: expected number, got string ("7")',
    ]);
    expect(problems({ environments: { production: env((c) => ({ ...c, tags: ['a'] })) } })).toEqual([
      'environments.production.tags: expected record, got array (["a"])',
    ]);
  });

  it('lists cross-field problems beside type errors, not after they are fixed', () => {
    const bad = env((c) => ({
      ...c,
      exportRetentionDays: 'seven',
      sourceClusters: [{ identifier: 'orders' }, { identifier: 'ORDERS' }],
      destination: { ...c.destination, bucket: 'client-bucket', aclMode: 3 },
      assumeRole: { roleArn: 'arn:aws:iam::999999999999:role/deployer' },
    }));
    expect(problems({ environments: { production: bad } })).toEqual(
      expect.arrayContaining([
        'environments.production.exportRetentionDays: expected number, got string ("seven")',
        'environments.production.sourceClusters[1].identifier: cluster ORDERS is listed twice',
        'environments.production.destination.bucket: set only one of accessPointArn and bucket',
        expect.stringMatching(/^environments\.production\.assumeRole\.roleArn: the role to assume must be in/),
      ]),
    );
  });

  it('refuses a state KMS key without encryption and a state without any lock', () => {
    const s3 = { type: 's3', bucket: 'tf-state', key: 'p.tfstate', region: 'eu-west-1' };
    expect(
      problems({
        environments: {
          production: env((c) => ({
            ...c,
            backend: {
              ...s3,
              encrypt: false,
              useLockfile: false,
              kmsKeyArn: 'arn:aws:kms:eu-west-1:999988887777:key/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
            },
          })),
        },
      }),
    ).toEqual([
      'environments.production.backend.kmsKeyArn: a state KMS key needs encrypt: true',
      'environments.production.backend.useLockfile: state without a lock: keep useLockfile true, or name a dynamodbTable',
    ]);
    expect(
      problems({
        environments: {
          production: env((c) => ({ ...c, backend: { ...s3, useLockfile: false, dynamodbTable: 'locks' } })),
        },
      }),
    ).toEqual([]);
  });

  it('bounds the copy workers: a whole number up to 900, and no more copies in flight than one prefix takes', () => {
    const withCopy = (copy: object) => ({
      environments: { production: env((c) => ({ ...c, copy: { ...(c.copy ?? {}), ...copy } })) },
    });
    expect(problems(withCopy({ maxWorkers: 0 }))).toEqual([
      'environments.production.copy.maxWorkers: Too small: expected number to be >0',
    ]);
    expect(problems(withCopy({ maxWorkers: 901, concurrency: 1 }))).toEqual([
      'environments.production.copy.maxWorkers: Too big: expected number to be <=900',
    ]);
    expect(problems(withCopy({ maxWorkers: 2.5 }))).toEqual([
      'environments.production.copy.maxWorkers: expected int, got number (2.5)',
    ]);
    expect(problems(withCopy({ maxWorkers: 30, concurrency: 16 }))).toEqual([
      'environments.production.copy.maxWorkers: 30 workers × 16 objects at once = 480 copies in flight, about 4800 writes/s to one destination prefix at ~100 ms a copy, past the 3,500 writes/s S3 sustains per prefix: keep maxWorkers × concurrency at most 350 (maxWorkers ≤ 21 here)',
    ]);
    expect(problems(withCopy({ maxWorkers: 21, concurrency: 16 }))).toEqual([]);
    expect(problems(withCopy({ maxWorkers: 350, concurrency: 1 }))).toEqual([]);
  });

  it('reads an HCP Terraform workspace backend, on app.terraform.io unless a host is given', () => {
    const [production] = parseConfigFile({
      environments: {
        production: env((c) => ({ ...c, backend: { type: 'cloud', organization: 'acme', workspace: 'aurora-prod' } })),
      },
    });
    expect(production.config.backend).toEqual({
      type: 'cloud',
      organization: 'acme',
      workspace: 'aurora-prod',
      hostname: 'app.terraform.io',
    });
  });

  it('lists every collision between two environments: names, state, and clusters exported twice', () => {
    const s3 = { type: 's3', bucket: 'tf-state', key: 'shared.tfstate', region: 'eu-west-1' };
    const a = env((c) => ({ ...c, backend: s3 }));
    const b = env((c) => ({ ...c, backend: s3 }));
    expect(problems({ environments: { production: a, copy: b } })).toEqual([
      'environments.copy.namePrefix: namePrefix "aurora-export" names the same resources as environment production',
      'environments.copy.backend: state s3://tf-state/shared.tfstate is the same as environment production',
      'environments.copy.sourceClusters[0].identifier: cluster me3-serverless in 444455556666/eu-west-1 would be exported twice: it is also a source of the same account and region as environment production',
      'environments.copy.sourceClusters[1].identifier: cluster orders-provisioned in 444455556666/eu-west-1 would be exported twice: it is also a source of the same account and region as environment production',
    ]);
  });

  it('tells apart workspaces and absolute state files, and lets relative local state live in each stack folder', () => {
    const cloud = { type: 'cloud', organization: 'acme', workspace: 'aurora' };
    const withBackend = (backend: object, prefix: string) =>
      ({ ...development(), namePrefix: prefix, sourceClusters: [{ identifier: prefix }], backend }) as object;
    expect(problems({ environments: { one: withBackend(cloud, 'one'), two: withBackend(cloud, 'two') } })).toEqual([
      'environments.two.backend: state workspace app.terraform.io/acme/aurora is the same as environment one',
    ]);
    const file = { type: 'local', path: '/var/state/aurora.tfstate' };
    expect(problems({ environments: { one: withBackend(file, 'one'), two: withBackend(file, 'two') } })).toEqual([
      'environments.two.backend: state local file /var/state/aurora.tfstate is the same as environment one',
    ]);
    const relative = { type: 'local', path: 'terraform.tfstate' };
    expect(
      problems({ environments: { one: withBackend(relative, 'one'), two: withBackend(relative, 'two') } }),
    ).toEqual([]);
  });

  it('names environments in lowercase and needs at least one', () => {
    expect(problems({ environments: { Prod: exampleEnvironment() } })).toEqual([
      'environments.Prod: lowercase letters, digits and hyphens, starting with a letter, at most 32',
    ]);
    expect(problems({ environments: {} })).toEqual(['environments: at least one environment']);
    expect(problems({ environments: { production: exampleEnvironment() }, namePrefix: 'x' })).toEqual([
      '(root): unknown key(s) namePrefix',
    ]);
  });
});

describe('Function: loadEnvironment', () => {
  const file = join(__dirname, '..', '..', 'config', 'example.json');

  it('picks the named environment, or asks for one when the file has several', () => {
    expect(loadEnvironment(file, 'development').config.namePrefix).toBe('aurora-export-dev');
    expect(() => loadEnvironment(file)).toThrow(
      '--environment: choose one of development, production (--environment <name> or PIPELINE_ENVIRONMENT)',
    );
    expect(() => loadEnvironment(file, 'staging')).toThrow(
      '--environment: one of development, production (got "staging")',
    );
  });

  it("takes a file's only environment without a name", () => {
    const single = fileWith(JSON.stringify({ environments: { production: exampleEnvironment() } }));
    expect(loadEnvironment(single).name).toBe('production');
  });
});

describe('Function: loadConfigFile', () => {
  it('names the line and column of a JSON syntax error', () => {
    const file = fileWith('{\n  "environments": {\n    "dev": { "namePrefix": "a", }\n  }\n}\n');
    expect(() => loadConfigFile(file)).toThrow(/\(file\): valid JSON \(.* at line 3, column 33\)/);
  });
});

describe('Function: jsonErrorOffset', () => {
  it.each([
    ['{"a": }', 6],
    ['{"a": 1,}', 8],
    ['[1, 2', 5],
    ['{"a": tru}', 6],
    ['{"a": "x\ny"}', 8],
    ['{"a": 01}', 7],
    ['{} {}', 3],
    ['', 0],
  ])('finds the first error in %j at %i', (text, offset) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('finds no error in valid JSON', () => {
    const text = JSON.stringify(example, null, 2);
    expect(jsonErrorOffset(text)).toBe(text.length);
  });
});

describe('Function: environmentsFrom', () => {
  it('takes every --environment flag, else PIPELINE_ENVIRONMENT, else all', () => {
    expect(environmentsFrom(['--environment', 'a', '--environment=b'], { PIPELINE_ENVIRONMENT: 'c' })).toEqual([
      'a',
      'b',
    ]);
    expect(environmentsFrom([], { PIPELINE_ENVIRONMENT: 'c, d' })).toEqual(['c', 'd']);
    expect(environmentsFrom([], {})).toEqual([]);
    expect(() => environmentsFrom(['--environment'], {})).toThrow('--environment: an environment name');
  });
});

describe('The configuration examples of the documentation', () => {
  it.each(['README.md', 'docs/configuration.md'])('are valid configuration files in %s', (doc) => {
    const markdown = readFileSync(join(__dirname, '..', '..', doc), 'utf8');
    const files = [...markdown.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => m[1])
      .filter((text) => text.trimStart().startsWith('{\n  "$schema"'));
    expect(files.length).toBeGreaterThan(0);
    for (const text of files) expect(parseConfigFile(JSON.parse(text), doc).length).toBeGreaterThan(0);
  });
});
