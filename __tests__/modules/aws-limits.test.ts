import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import type { PipelineConfigInput } from '../../config/schema';
import { StageFunction } from '../../lambdas/shared/domain/run';
import { SETTINGS_FILE } from '../../lambdas/shared/contracts/settings';
import { AWS_LIMITS, AwsLimitError, LimitChecks, MAX_RESOLVED_REFERENCE_LENGTH } from '../../modules/aws-limits';
import { STAGES } from '../../modules/export-pipeline';
import { allow, type Statement } from '../../modules/iam';
import { layoutPolicies } from '../../modules/policy-layout';
import { filterPolicyCombinations, filterPolicyKeys } from '../../modules/stage-function';
import { isAllowed, resolveTokens, type PolicyDocumentJson } from '../support/iam-eval';
import {
  exampleConfig,
  resources,
  stagePolicy,
  synthesizedSettings,
  synthStack,
  type SynthesizedStack,
} from './stack-helper';

/**
 * Every AWS limit the stack touches, measured on the synthesized Terraform the way AWS counts it, with every
 * token resolved to what a deployment in eu-west-1 would give it.
 */

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const KEY_ID = '1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b';

/**
 * `clusters` source clusters with `entries` exportOnly entries each, with realistic names, each cluster
 * encrypted with its own customer-managed key and no subnet group configured (the most the start and export
 * roles can be asked to name per cluster).
 */
function sized(
  clusters: number,
  entries: number,
  identifier = (i: number) => `orders-eu-${String(i).padStart(3, '0')}`,
) {
  return (c: PipelineConfigInput): PipelineConfigInput => ({
    ...c,
    // No subnet group: temporary clusters take the source cluster's, so the start role describes every cluster.
    restore: { vpcSecurityGroupIds: [] },
    sourceClusters: Array.from({ length: clusters }, (_, i) => ({
      identifier: identifier(i),
      exportMode: 'auto' as const,
      snapshotKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${String(i).padStart(8, '0')}-5f60-4718-9a0b-1c2d3e4f5a6b`,
      exportOnly: Array.from({ length: entries }, (_, j) => `sales_${i}.public.order_line_items_${j}`),
    })),
  });
}

/** Resolves a token as a deployment would: data sources from the account and region, ARNs from the names. */
function deployedValue(tf: SynthesizedStack, expression: string): string | undefined {
  const parts = expression.split('.');
  if (parts[0] === 'data') {
    if (parts[1] === 'aws_caller_identity' && parts[3] === 'account_id') return ACCOUNT;
    if (parts[1] === 'aws_partition' && parts[3] === 'partition') return 'aws';
    if (parts[1] === 'aws_region' && (parts[3] === 'name' || parts[3] === 'region')) return REGION;
    return undefined;
  }
  const [type, logical, attribute] = parts;
  const r = tf.resource[type]?.[logical];
  if (!r) return undefined;
  const literal = (field: string) => resolveAll(tf, String(r[field]));
  const arns: Record<string, () => string> = {
    aws_s3_bucket: () => `arn:aws:s3:::${literal('bucket')}`,
    aws_dynamodb_table: () => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${literal('name')}`,
    aws_kms_key: () => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${KEY_ID}`,
    aws_iam_role: () => `arn:aws:iam::${ACCOUNT}:role/${literal('name')}`,
    aws_iam_policy: () => `arn:aws:iam::${ACCOUNT}:policy/${literal('name')}`,
    aws_sns_topic: () => `arn:aws:sns:${REGION}:${ACCOUNT}:${literal('name')}`,
    aws_sqs_queue: () => `arn:aws:sqs:${REGION}:${ACCOUNT}:${literal('name')}`,
    aws_cloudwatch_log_group: () => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${literal('name')}`,
    aws_lambda_function: () => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${literal('function_name')}`,
  };
  if (attribute === 'arn') return arns[type]?.();
  if (attribute === 'key_id' && type === 'aws_kms_key') return KEY_ID;
  if (['name', 'bucket', 'function_name'].includes(attribute) && r[attribute] !== undefined) return literal(attribute);
  return undefined;
}

function resolveAll(tf: SynthesizedStack, text: string): string {
  const { text: out, unresolved } = resolveTokens(text, (e) => deployedValue(tf, e));
  if (unresolved.length > 0) throw new Error(`cannot resolve ${unresolved.join(', ')}`);
  return out;
}

/** Characters of a policy as IAM counts them: whitespace excluded. */
const iamChars = (text: string) => text.replace(/\s/g, '').length;

/** Every size the stack's limits apply to, measured on the synthesized Terraform. */
function measure(tf: SynthesizedStack) {
  const roles = resources(tf, 'aws_iam_role');
  const byRole = (type: string) => (logical: string) =>
    Object.values(resources(tf, type)).filter((r) => r.role === `\${aws_iam_role.${logical}.name}`);
  const roleSizes = Object.entries(roles).map(([logical, role]) => {
    const inline = byRole('aws_iam_role_policy')(logical);
    const attachments = byRole('aws_iam_role_policy_attachment')(logical);
    return {
      role: role.name as string,
      inlineChars: inline.reduce((sum, p) => sum + iamChars(resolveAll(tf, p.policy as string)), 0),
      trustChars: iamChars(resolveAll(tf, role.assume_role_policy as string)),
      managedPolicies: attachments.length,
    };
  });
  const managed = Object.values(resources(tf, 'aws_iam_policy')).map((p) => ({
    name: p.name as string,
    chars: iamChars(resolveAll(tf, p.policy as string)),
  }));
  const environments = Object.values(resources(tf, 'aws_lambda_function')).map((f) => ({
    fn: f.function_name as string,
    // Lambda counts "all environment variables, in aggregate": the JSON of the map is an upper bound of that.
    bytes: Buffer.byteLength(
      resolveAll(tf, JSON.stringify((f.environment as { variables: Record<string, string> }).variables)),
    ),
  }));
  const filters = Object.values(resources(tf, 'aws_sns_topic_subscription'))
    .filter((s) => s.filter_policy !== undefined)
    .map((s) => {
      const policy = JSON.parse(s.filter_policy as string);
      return {
        bytes: Buffer.byteLength(s.filter_policy as string),
        combinations: filterPolicyCombinations(policy),
        keys: filterPolicyKeys(policy),
      };
    });
  const client = JSON.parse(resolveAll(tf, tf.output.client_policy_statements.value as string));
  const clientPolicies = Object.fromEntries(
    ['accessPointPolicy', 'bucketPolicy', 'kmsKeyPolicy']
      .filter((k) => client[k] !== undefined)
      .map((k) => [k, Buffer.byteLength(JSON.stringify(client[k]))]),
  );
  const ownPolicies = {
    keyPolicy: Buffer.byteLength(resolveAll(tf, Object.values(resources(tf, 'aws_kms_key'))[0].policy as string)),
    bucketPolicy: Math.max(
      ...Object.values(resources(tf, 'aws_s3_bucket_policy')).map((p) =>
        Buffer.byteLength(resolveAll(tf, p.policy as string)),
      ),
    ),
  };
  return { roleSizes, managed, environments, filters, clientPolicies, ownPolicies };
}

describe('A stack of 100 source clusters with 20 exportOnly entries each', () => {
  const config = exampleConfig(sized(100, 20));
  const { tf, stack } = synthStack(config);
  const sizes = measure(tf);

  it('synthesizes with every configured cluster and exportOnly entry in the packaged settings', () => {
    for (const stage of STAGES) {
      const settings = synthesizedSettings(tf, stack, stage);
      expect(settings.sourceClusters).toEqual(config.sourceClusters);
      const zip = unzipSync(readFileSync(stack.pipeline.stageFunction(stage).code.zipPath));
      expect(Object.keys(zip).sort()).toEqual(['index.js', SETTINGS_FILE]);
    }
  });

  it('fits every AWS limit, measured on the synthesized Terraform as AWS counts it', () => {
    const largest = <T>(items: T[], size: (t: T) => number) => Math.max(...items.map(size));
    const figures = {
      environmentBytes: largest(sizes.environments, (e) => e.bytes),
      inlineCharsPerRole: Object.fromEntries(sizes.roleSizes.map((r) => [r.role, r.inlineChars])),
      managedPoliciesPerRole: Object.fromEntries(sizes.roleSizes.map((r) => [r.role, r.managedPolicies])),
      managedPolicyChars: Object.fromEntries(sizes.managed.map((m) => [m.name, m.chars])),
      trustPolicyChars: largest(sizes.roleSizes, (r) => r.trustChars),
      filterPolicyBytes: largest(sizes.filters, (f) => f.bytes),
      filterPolicyCombinations: largest(sizes.filters, (f) => f.combinations),
      clientPolicyBytes: sizes.clientPolicies,
      ownResourcePolicyBytes: sizes.ownPolicies,
    };
    console.log(`Measured at 100 clusters x 20 exportOnly entries:\n${JSON.stringify(figures, null, 2)}`);

    expect(sizes.environments).toHaveLength(STAGES.length);
    for (const e of sizes.environments) expect(e.bytes).toBeLessThanOrEqual(AWS_LIMITS.lambdaEnvironment.max);
    for (const r of sizes.roleSizes) {
      expect(r.inlineChars).toBeLessThanOrEqual(AWS_LIMITS.roleInlinePolicies.max);
      expect(r.managedPolicies).toBeLessThanOrEqual(AWS_LIMITS.managedPoliciesPerRole.max);
      // IAM's default role trust policy length quota.
      expect(r.trustChars).toBeLessThanOrEqual(2048);
    }
    expect(sizes.managed.length).toBeGreaterThan(0);
    for (const m of sizes.managed) expect(m.chars).toBeLessThanOrEqual(AWS_LIMITS.managedPolicySize.max);
    expect(sizes.filters.length).toBeGreaterThan(0);
    for (const f of sizes.filters) {
      expect(f.bytes).toBeLessThanOrEqual(AWS_LIMITS.snsFilterPolicySize.max);
      expect(f.combinations).toBeLessThanOrEqual(AWS_LIMITS.snsFilterPolicyCombinations.max);
      expect(f.keys).toBeLessThanOrEqual(AWS_LIMITS.snsFilterPolicyKeys.max);
    }
    expect(sizes.clientPolicies.accessPointPolicy).toBeLessThanOrEqual(AWS_LIMITS.s3AccessPointPolicy.max);
    expect(sizes.clientPolicies.bucketPolicy).toBeLessThanOrEqual(AWS_LIMITS.s3BucketPolicy.max);
    expect(sizes.clientPolicies.kmsKeyPolicy).toBeLessThanOrEqual(AWS_LIMITS.kmsKeyPolicy.max);
    expect(sizes.ownPolicies.keyPolicy).toBeLessThanOrEqual(AWS_LIMITS.kmsKeyPolicy.max);
    expect(sizes.ownPolicies.bucketPolicy).toBeLessThanOrEqual(AWS_LIMITS.s3BucketPolicy.max);
    for (const stage of STAGES) {
      const code = stack.pipeline.stageFunction(stage).code;
      expect(code.sizeBytes).toBeLessThanOrEqual(AWS_LIMITS.lambdaZippedPackage.max);
      expect(code.unzippedSizeBytes).toBeLessThanOrEqual(AWS_LIMITS.lambdaUnzippedPackage.max);
    }
  });

  it('still lets the start and export stages use the snapshots and keys of every configured cluster, and no other', () => {
    const policyOf = (stage: StageFunction): PolicyDocumentJson =>
      JSON.parse(resolveAll(tf, JSON.stringify(stagePolicy(tf, stage))));
    const snapshot = (id: string) => `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:rds:${id}-2026-12-01-03-10`;
    for (const [stage, action] of [
      [StageFunction.START, 'rds:RestoreDBClusterFromSnapshot'],
      [StageFunction.START, 'rds:StartExportTask'],
      [StageFunction.EXPORT, 'rds:StartExportTask'],
    ] as const) {
      const policy = policyOf(stage);
      for (const id of ['orders-eu-000', 'orders-eu-099']) {
        expect(isAllowed(policy, { action, resource: snapshot(id) })).toBe(true);
      }
      expect(isAllowed(policy, { action, resource: snapshot('orders-eu-100') })).toBe(false);
    }
    const key = (i: number) =>
      `arn:aws:kms:${REGION}:${ACCOUNT}:key/${String(i).padStart(8, '0')}-5f60-4718-9a0b-1c2d3e4f5a6b`;
    const throughRds = { 'kms:ViaService': `rds.${REGION}.amazonaws.com` };
    for (const stage of [StageFunction.START, StageFunction.EXPORT]) {
      const policy = policyOf(stage);
      for (const i of [0, 99]) {
        expect(isAllowed(policy, { action: 'kms:CreateGrant', resource: key(i), context: throughRds })).toBe(true);
      }
      expect(isAllowed(policy, { action: 'kms:CreateGrant', resource: key(100), context: throughRds })).toBe(false);
      expect(isAllowed(policy, { action: 'kms:CreateGrant', resource: key(0), context: {} })).toBe(false);
    }
  });
});

describe('A configuration past an AWS limit', () => {
  it('fails at synth naming each limit, what went past it and by how much', () => {
    const tooMany = exampleConfig(sized(400, 20, (i) => `${'a'.repeat(56)}-${String(i).padStart(4, '0')}`));
    let error: unknown;
    try {
      synthStack(tooMany);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AwsLimitError);
    const message = (error as AwsLimitError).message;
    expect(message).toMatch(/^The configuration goes past AWS limits \(\d+ problems\):\n/);
    expect(message).toMatch(
      /the start function's role \(aurora-export-start\): \d+ policies, over IAM's managed policies attached per role quota \(the default; it can be raised\) of 10 policies \(grows with sourceClusters: 400 clusters\)/,
    );
    expect(message).toContain("the export function's role (aurora-export-export)");
    expect(message).toMatch(
      /the statements for the client's access point policy: \d+ bytes, over S3's access point policy size limit/,
    );
    expect((error as AwsLimitError).problems.every((p) => p.value > p.limit.max)).toBe(true);
  });

  it("counts the pipeline's own tags of temporary resources with the configured ones", () => {
    const fits = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`team-${i}`, 'data']));
    expect(() => synthStack(exampleConfig((c) => ({ ...c, tags: fits })))).not.toThrow();
    let error: unknown;
    try {
      synthStack(exampleConfig((c) => ({ ...c, tags: { ...fits, 'team-48': 'data' } })));
    } catch (e) {
      error = e;
    }
    expect((error as AwsLimitError).problems.map((p) => `${p.limit.max} ${p.value}`)).toEqual(['50 51']);
  });

  it('lists every tag past the per-resource limits, the count, a key and a value', () => {
    const tags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`team-${i}`, 'data']));
    const config = exampleConfig((c) => ({ ...c, tags: { ...tags, ['k'.repeat(129)]: 'v'.repeat(257) } }));
    let error: unknown;
    try {
      synthStack(config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AwsLimitError);
    expect((error as AwsLimitError).problems.map((p) => `${p.subject}: ${p.value}/${p.limit.max}`)).toEqual([
      "tags (on every resource, and with the pipeline's own on each temporary cluster and snapshot): 54/50",
      `tags: the key "${'k'.repeat(40)}…": 129/128`,
      `tags."${'k'.repeat(40)}…": its value: 257/256`,
    ]);
  });
});

describe('Class: LimitChecks', () => {
  it('measures a string with each token at its longest resolved value, whitespace excluded for IAM', () => {
    const checks = new LimitChecks([{ token: '${TfToken[TOKEN.1]}', maxLength: 12 }]);
    const text = '{"a": "arn:${TfToken[TOKEN.1]}:x:${TfToken[TOKEN.2]}"}';
    expect(checks.resolvedSize(text, 'characters without whitespace')).toBe(
      '{"a":"arn::x:"}'.length + 12 + MAX_RESOLVED_REFERENCE_LENGTH,
    );
    expect(checks.resolvedSize('é ${TfToken[TOKEN.1]}', 'bytes')).toBe(3 + 12);
  });

  it('collects every value past its limit and throws them all at once', () => {
    const checks = new LimitChecks();
    expect(checks.check(AWS_LIMITS.managedPoliciesPerRole, 'role a', 10)).toBe(true);
    expect(checks.check(AWS_LIMITS.managedPoliciesPerRole, 'role b', 11, 'grows with x')).toBe(false);
    expect(checks.check(AWS_LIMITS.lambdaEnvironment, 'fn c', 5000)).toBe(false);
    expect(() => checks.assertWithinLimits()).toThrow(
      'The configuration goes past AWS limits (2 problems):\n' +
        "  - role b: 11 policies, over IAM's managed policies attached per role quota (the default; it can be raised) of 10 policies (grows with x)\n" +
        "  - fn c: 5000 bytes, over Lambda's environment variables limit (all variables of a function, in aggregate) of 4096 bytes",
    );
  });
});

describe('Function: layoutPolicies', () => {
  const sizeOf = (json: string) => iamChars(json);
  const budget = { inlineMax: 1000, managedMax: 600, sizeOf };
  const arns = (n: number) => Array.from({ length: n }, (_, i) => `arn:aws:rds:eu-west-1:123456789012:cluster:c-${i}`);
  /** Every (statement, action, resource) a set of policies grants, with the statement's condition. */
  const grants = (docs: readonly (readonly Statement[])[]) =>
    docs
      .flat()
      .flatMap((s) =>
        [s.Action]
          .flat()
          .flatMap((a) => [s.Resource ?? []].flat().map((r) => `${s.Sid} ${a} ${r} ${JSON.stringify(s.Condition)}`)),
      )
      .sort();

  it('keeps everything inline while it fits', () => {
    const statements = [allow('A', ['rds:DescribeDBClusters'], arns(2))];
    expect(layoutPolicies(statements, budget)).toEqual({ inline: statements, managed: [] });
  });

  it('moves the largest statements to managed policies, split by resource, granting exactly the same', () => {
    const statements = [
      allow('Small', ['sqs:SendMessage'], ['arn:aws:sqs:eu-west-1:123456789012:q']),
      allow('Large', ['rds:StartExportTask', 'rds:RestoreDBClusterFromSnapshot'], arns(40), {
        StringEquals: { 'aws:RequestedRegion': 'eu-west-1' },
      }),
      allow('Medium', ['rds:DescribeDBClusters'], arns(6)),
    ];
    const layout = layoutPolicies(statements, budget);
    expect(layout.inline.map((s) => s.Sid)).toEqual(['Small', 'Medium']);
    expect(layout.managed.length).toBeGreaterThan(3);
    for (const doc of layout.managed)
      expect(sizeOf(JSON.stringify({ Version: '2012-10-17', Statement: doc }))).toBeLessThanOrEqual(600);
    expect(grants([layout.inline, ...layout.managed])).toEqual(grants([statements]));
    expect(layoutPolicies(statements, budget)).toEqual(layout);
  });

  it('puts a statement that fits whole into an earlier managed policy with room for it', () => {
    const one = (sid: string, n: number) => allow(sid, ['rds:DescribeDBClusters'], arns(n));
    // Inline room for nothing but the envelope: every statement moves out.
    const tight = { ...budget, inlineMax: 50 };
    const large = allow('Second', ['rds:DescribeDBClusters'], arns(1), {
      StringEquals: { 'aws:PrincipalTag/team': 'x'.repeat(300) },
    });
    const layout = layoutPolicies([one('First', 5), large, one('Third', 1)], tight);
    expect(layout.inline).toEqual([]);
    expect(layout.managed.map((doc) => doc.map((s) => s.Sid))).toEqual([['First', 'Third'], ['Second']]);
  });
});
