import { App, TerraformStack } from 'cdktf';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import {
  DEPLOYED_SETTING_KEYS,
  runtimeSettingsSchema,
  settingsFromEnv,
  SETTINGS_FILE,
} from '../../lambdas/shared/contracts/settings';
import {
  buildRuntimeSettings,
  canonicalJson,
  packageRuntimeSettings,
  RuntimeSettingsError,
  tempResourcePrefixOf,
} from '../../modules/runtime-settings';
import { exampleConfig, resources, synthStack } from './stack-helper';

const deployed = {
  accountId: '123456789012',
  tableName: 'aurora-export-runs',
  exportBucket: 'aurora-export-exports-123456789012-eu-west-1',
  exportPrefix: 'exports',
  exportKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/abc',
  exportRoleArn: 'arn:aws:iam::123456789012:role/aurora-export-rds-export',
  pipelineTopicArn: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline',
  alertTopicArns: ['arn:aws:sns:eu-west-1:123456789012:aurora-export-alerts'],
};

/** A configuration whose settings grow: many clusters, each with a long exportOnly list. */
const large = exampleConfig((c) => ({
  ...c,
  sourceClusters: Array.from({ length: 100 }, (_, i) => ({
    identifier: `cluster-${i}`,
    exportOnly: Array.from({ length: 20 }, (_, j) => `db${i}.public.table_with_a_long_name_${j}`),
  })),
}));

describe('Function: buildRuntimeSettings', () => {
  it('gives the handlers settings their own schema accepts', () => {
    const settings = buildRuntimeSettings(exampleConfig(), deployed);
    expect(runtimeSettingsSchema.parse(settings)).toEqual(settings);
    expect(settings.tempResourcePrefix).toBe(tempResourcePrefixOf('aurora-export'));
    expect(settings.managedByTag).toBe('aurora-export');
  });

  it('accepts an account id that only Terraform knows', () => {
    const stack = new TerraformStack(new App(), 'probe');
    const token = new DataAwsCallerIdentity(stack, 'id').accountId;
    expect(buildRuntimeSettings(exampleConfig(), { ...deployed, accountId: token }).accountId).toBe(token);
  });

  it('refuses settings the handlers would reject, naming the field', () => {
    expect(() => buildRuntimeSettings(exampleConfig(), { ...deployed, accountId: 'not-an-account' })).toThrow(
      RuntimeSettingsError,
    );
    expect(() => buildRuntimeSettings(exampleConfig(), { ...deployed, tableName: '' })).toThrow(/tableName/);
  });
});

describe('Function: packageRuntimeSettings', () => {
  it('puts only the deployed names and ARNs in the environment, however large the configuration', () => {
    const small = packageRuntimeSettings(buildRuntimeSettings(exampleConfig(), deployed));
    const big = packageRuntimeSettings(buildRuntimeSettings(large, deployed));
    expect(Object.keys(JSON.parse(big.environmentJson)).sort()).toEqual([...DEPLOYED_SETTING_KEYS].sort());
    expect(big.environmentJson).toBe(small.environmentJson);
    expect(big.file.byteLength).toBeGreaterThan(40_000);
  });

  it('gives the same file bytes for the same configuration, whatever order its keys were written in', () => {
    const settings = buildRuntimeSettings(large, deployed);
    const reordered = Object.fromEntries(Object.entries(settings).reverse()) as typeof settings;
    expect(Buffer.from(packageRuntimeSettings(reordered).file)).toEqual(
      Buffer.from(packageRuntimeSettings(settings).file),
    );
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 3 } })).toBe(
      '{"a":{"c":3,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });

  it('refuses to package a value only Terraform knows', () => {
    const stack = new TerraformStack(new App(), 'probe');
    const token = new DataAwsCallerIdentity(stack, 'id').accountId;
    const settings = { ...buildRuntimeSettings(exampleConfig(), deployed), namePrefix: token };
    expect(() => packageRuntimeSettings(settings)).toThrow(/only Terraform knows/);
  });

  it('gives back, through what a handler reads, exactly the settings it was built from', () => {
    const settings = buildRuntimeSettings(large, deployed);
    const packaged = packageRuntimeSettings(settings);
    const read: string[] = [];
    const env = { PIPELINE_SETTINGS: packaged.environmentJson, LAMBDA_TASK_ROOT: '/var/task' };
    const loaded = settingsFromEnv(env, (path) => {
      read.push(path);
      return new TextDecoder().decode(packaged.file);
    });
    expect(read).toEqual([`/var/task/${SETTINGS_FILE}`]);
    expect(loaded).toEqual(settings);
  });

  it('says so when a deployed function has no settings file', () => {
    const packaged = packageRuntimeSettings(buildRuntimeSettings(exampleConfig(), deployed));
    const env = { PIPELINE_SETTINGS: packaged.environmentJson, LAMBDA_TASK_ROOT: '/var/task' };
    expect(() =>
      settingsFromEnv(env, () => {
        throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      }),
    ).toThrow(
      `/var/task/${SETTINGS_FILE} cannot be read (ENOENT): the function was deployed without its settings file`,
    );
  });
});

describe('Runtime settings and permissions of the restore network and tags', () => {
  it('hands the configured tags to the functions, for their temporary clusters and snapshots', () => {
    const config = exampleConfig((c) => ({ ...c, tags: { 'cost-center': 'data-lake' } }));
    expect(buildRuntimeSettings(config, deployed).tags).toEqual({ 'cost-center': 'data-lake' });
  });

  const startStatements = (config: ReturnType<typeof exampleConfig>) => {
    const policy = Object.values(resources(synthStack(config).tf, 'aws_iam_role_policy')).find(
      (p) => p.name === 'start-stage',
    );
    return (
      JSON.parse(policy?.policy as string) as { Statement: { Sid: string; Action: string[]; Resource: string[] }[] }
    ).Statement;
  };

  it('lets the start function read its source clusters only when it must take their subnet group', () => {
    const withoutGroup = exampleConfig((c) => ({ ...c, restore: { vpcSecurityGroupIds: [] } }));
    const describe = startStatements(withoutGroup).find((s) => s.Sid === 'DescribeSourceClusters');
    expect([describe?.Action].flat()).toEqual(['rds:DescribeDBClusters']);
    expect([describe?.Resource ?? []].flat().every((r) => /:cluster:[^*]+$/.test(r))).toBe(true);
    expect(startStatements(exampleConfig()).some((s) => s.Sid === 'DescribeSourceClusters')).toBe(false);
  });
});
