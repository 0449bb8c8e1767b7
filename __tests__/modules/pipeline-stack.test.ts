import { exampleConfig, resources, synthStack } from './stack-helper';

describe('Construct: PipelineStack', () => {
  describe('Given the example production environment', () => {
    const { tf } = synthStack();

    it('guards the provider with the environment account and assumes its deploy role', () => {
      expect(tf.provider.aws).toEqual([
        expect.objectContaining({
          allowed_account_ids: ['444455556666'],
          assume_role: [
            {
              role_arn: 'arn:aws:iam::444455556666:role/aurora-export-deployer',
              session_name: 'aurora-export-deploy',
            },
          ],
        }),
      ]);
    });

    it('keeps the state in S3 through the state role, under the state key, with the native lock', () => {
      expect(tf.terraform.backend).toEqual({
        s3: {
          bucket: 'acme-terraform-state',
          key: 'aurora-export/production.tfstate',
          region: 'eu-west-1',
          encrypt: true,
          kms_key_id: 'arn:aws:kms:eu-west-1:999988887777:key/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
          assume_role: { role_arn: 'arn:aws:iam::999988887777:role/terraform-state' },
          use_lockfile: true,
        },
      });
    });
  });

  describe('Given the copy workers of the configuration', () => {
    const reserved = (tf: ReturnType<typeof synthStack>['tf']) =>
      Object.fromEntries(
        Object.values(resources(tf, 'aws_lambda_function')).map((f) => [
          String(f.function_name),
          f.reserved_concurrent_executions,
        ]),
      );

    it('when left to the default, then the copy function reserves 350 ÷ concurrency executions and no other function reserves any', () => {
      const { tf } = synthStack(exampleConfig((c) => ({ ...c, copy: { concurrency: 16 } })));
      const byName = reserved(tf);
      expect(byName['aurora-export-copy']).toBe(21);
      expect(
        Object.entries(byName)
          .filter(([name]) => name !== 'aurora-export-copy')
          .map(([, r]) => r),
      ).toEqual(Array(Object.keys(byName).length - 1).fill(undefined));
    });

    it("when maxWorkers is set, then it is the copy function's reserved concurrency", () => {
      const { tf } = synthStack(exampleConfig((c) => ({ ...c, copy: { concurrency: 8, maxWorkers: 12 } })));
      expect(reserved(tf)['aurora-export-copy']).toBe(12);
    });
  });

  it('Given an HCP Terraform backend, when synthesized, then the state is in the named workspace', () => {
    const config = exampleConfig((c) => ({
      ...c,
      backend: { type: 'cloud', organization: 'acme', workspace: 'aurora-prod', project: 'data' },
    }));
    const { tf } = synthStack(config);
    expect(tf.terraform.cloud).toEqual({
      hostname: 'app.terraform.io',
      organization: 'acme',
      workspaces: { name: 'aurora-prod', project: 'data' },
    });
    expect(tf.terraform.backend).toBeUndefined();
  });

  it('Given no account, when synthesized, then the provider has no guard and no role', () => {
    const { accountId: _, assumeRole: __, ...rest } = exampleConfig();
    const { tf } = synthStack({ ...rest });
    expect(tf.provider.aws[0]).not.toHaveProperty('allowed_account_ids');
    expect(tf.provider.aws[0]).not.toHaveProperty('assume_role');
  });

  it('Given the offline mode of the plan tests, then there is no account to guard and no role to assume', () => {
    const { tf } = synthStack(exampleConfig(), {
      offline: { accountId: '123456789012', endpoint: 'http://127.0.0.1:9' },
    });
    expect(tf.provider.aws[0]).not.toHaveProperty('allowed_account_ids');
    expect(tf.provider.aws[0]).not.toHaveProperty('assume_role');
  });
});
