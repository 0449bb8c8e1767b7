import { App, TerraformStack } from 'cdktf';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { runtimeSettingsSchema } from '../../lambdas/shared/contracts/settings';
import {
  buildRuntimeSettings,
  runtimeSettingsJson,
  RuntimeSettingsError,
  tempResourcePrefixOf,
} from '../../modules/runtime-settings';
import { exampleConfig } from './stack-helper';

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

describe('Function: runtimeSettingsJson', () => {
  it('refuses settings that would not fit in Lambda environment variables', () => {
    const many = exampleConfig((c) => ({
      ...c,
      sourceClusters: Array.from({ length: 40 }, (_, i) => ({
        identifier: `cluster-${i}`,
        exportOnly: [`db${i}.public.table_with_a_long_name_${i}`],
      })),
    }));
    expect(() => runtimeSettingsJson(buildRuntimeSettings(many, deployed))).toThrow(/4096-byte environment limit/);
    expect(JSON.parse(runtimeSettingsJson(buildRuntimeSettings(exampleConfig(), deployed))).namePrefix).toBe(
      'aurora-export',
    );
  });
});
