import 'cdktf/lib/testing/adapters/jest';
import { Testing } from 'cdktf';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function';
import { StageFunction } from '../../lambdas/shared/domain/run';
import { DEPLOYED_SETTING_KEYS, runtimeSettingsSchema } from '../../lambdas/shared/contracts/settings';
import { RunTableLayout, PipelineMetrics } from '../../lambdas/shared/contracts/table-layout';
import { STAGES } from '../../modules/export-pipeline';
import { evaluatePolicy, resolveTokens, type PolicyDocumentJson } from '../support/iam-eval';
import {
  actionsOf,
  exampleConfig,
  only,
  resources,
  resourcesOf,
  stagePolicy,
  synthesizedSettings,
  synthStack,
} from './stack-helper';

Testing.setupJest();

const { json, tf, stack } = synthStack();
const ACCOUNT = /^\$\{data\.aws_caller_identity\.aws-context_caller_[0-9A-F]+\.account_id\}$/;
const statementsOf = (policy: string) =>
  (JSON.parse(policy) as { Statement: Array<Record<string, unknown>> }).Statement;
const bySid = (statements: Array<Record<string, unknown>>, sid: string) => {
  const s = statements.find((x) => x.Sid === sid);
  if (!s) throw new Error(`no statement ${sid}`);
  return s;
};

describe('Construct: PipelineKey', () => {
  it('creates one customer-managed key with rotation on', () => {
    expect(json).toHaveResourceWithProperties(KmsKey, { enable_key_rotation: true });
  });

  it('gives the account root AWS’s default statement (kms:* on the key), which hands the key to IAM', () => {
    const root = statementsOf(only(tf, 'aws_kms_key').policy as string).filter((s) =>
      JSON.stringify(s.Principal).includes(':root'),
    );
    expect(root).toEqual([expect.objectContaining({ Sid: 'EnableIamPolicies', Action: 'kms:*', Resource: '*' })]);
    expect(root[0].Condition).toBeUndefined();
  });

  it('admits RDS events, CloudWatch alarms and the pipeline roles, and never export.rds.amazonaws.com itself', () => {
    const statements = statementsOf(only(tf, 'aws_kms_key').policy as string);
    expect(JSON.stringify(statements)).not.toContain('export.rds.amazonaws.com');
    expect(JSON.stringify(bySid(statements, 'ServicesPublishToEncryptedTopics').Principal)).toMatch(
      /events\.rds\.amazonaws\.com.*cloudwatch\.amazonaws\.com/,
    );
    const roles = [bySid(statements, 'PipelineRolesUseKey').Principal as { AWS: string[] }].flatMap((p) => p.AWS);
    expect(roles).toHaveLength(STAGES.length + 1);
    const grant = bySid(statements, 'ExportStartersGrantToRds');
    expect(actionsOf(grant)).toEqual(['kms:CreateGrant']);
    expect(grant.Condition).toEqual({ Bool: { 'kms:GrantIsForAWSResource': true } });
  });
});

describe('Construct: PipelineKey, for CloudWatch Logs', () => {
  const keyStatements = () => statementsOf(only(tf, 'aws_kms_key').policy as string);
  // The key policy with partition, region and account as Terraform will read them for one deployment.
  const resolved = (): PolicyDocumentJson =>
    JSON.parse(
      resolveTokens(only(tf, 'aws_kms_key').policy as string, (t) =>
        t.endsWith('.partition')
          ? 'aws'
          : t.startsWith('data.aws_region.')
            ? 'eu-west-1'
            : t.endsWith('.account_id')
              ? '123456789012'
              : t.includes('aws_iam_role.')
                ? `arn:aws:iam::123456789012:role/${t}`
                : undefined,
      ).text,
    );
  const logsRequest = (action: string, logGroup: string) => ({
    action,
    resource: 'arn:aws:kms:eu-west-1:123456789012:key/k',
    principal: { type: 'Service' as const, id: 'logs.eu-west-1.amazonaws.com' },
    context: { 'kms:EncryptionContext:aws:logs:arn': logGroup },
  });

  it('lets CloudWatch Logs of this region use the key, only for the log groups of this pipeline in this account', () => {
    const s = bySid(keyStatements(), 'CloudWatchLogsEncryptsPipelineLogs');
    expect(s.Principal).toEqual({
      Service: expect.stringMatching(/^logs\.\$\{data\.aws_region\..+\.name\}\.amazonaws\.com$/),
    });
    expect(s.Condition).toEqual({
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': expect.stringMatching(
          /^arn:\$\{data\.aws_partition\..+\}:logs:\$\{data\.aws_region\..+\}:\$\{data\.aws_caller_identity\..+\}:log-group:\/aws\/lambda\/aurora-export-\*$/,
        ),
      },
    });
    expect(actionsOf(s)).not.toContain('kms:CreateGrant');
    expect(actionsOf(s).every((a) => /^kms:[A-Za-z]+$/.test(a))).toBe(true);
  });

  it('admits CloudWatch Logs for every log group of the stack and refuses it for any other', () => {
    const policy = resolved();
    for (const group of Object.values(resources(tf, 'aws_cloudwatch_log_group'))) {
      const arn = `arn:aws:logs:eu-west-1:123456789012:log-group:${group.name as string}`;
      for (const action of ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'])
        expect(evaluatePolicy(policy, logsRequest(action, arn)).decision).toBe('allow');
    }
    for (const other of [
      'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/other-app',
      'arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/aurora-export-start',
      'arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/aurora-export-start',
    ]) {
      expect(evaluatePolicy(policy, logsRequest('kms:Decrypt', other)).decision).toBe('implicit-deny');
    }
    expect(
      evaluatePolicy(policy, {
        ...logsRequest('kms:Decrypt', 'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/aurora-export-start'),
        principal: { type: 'Service', id: 'logs.us-east-1.amazonaws.com' },
      }).decision,
    ).toBe('implicit-deny');
  });
});

describe('Construct: PipelineKey, for services publishing to the encrypted topics', () => {
  const resolved = (): PolicyDocumentJson =>
    JSON.parse(
      resolveTokens(only(tf, 'aws_kms_key').policy as string, (t) =>
        t.endsWith('.partition')
          ? 'aws'
          : t.startsWith('data.aws_region.')
            ? 'eu-west-1'
            : t.endsWith('.account_id')
              ? '123456789012'
              : t.includes('aws_iam_role.')
                ? `arn:aws:iam::123456789012:role/${t}`
                : undefined,
      ).text,
    );
  const publishRequest = (service: string, topicArn: string) => ({
    action: 'kms:GenerateDataKey',
    resource: 'arn:aws:kms:eu-west-1:123456789012:key/k',
    principal: { type: 'Service' as const, id: service },
    context: { 'kms:EncryptionContext:aws:sns:topicArn': topicArn },
  });

  it('lets RDS events and CloudWatch alarms encrypt for every topic of the stack, and for no other topic', () => {
    const policy = resolved();
    for (const topic of Object.values(resources(tf, 'aws_sns_topic'))) {
      const arn = `arn:aws:sns:eu-west-1:123456789012:${topic.name as string}`;
      for (const service of ['events.rds.amazonaws.com', 'cloudwatch.amazonaws.com']) {
        expect(evaluatePolicy(policy, publishRequest(service, arn)).decision).toBe('allow');
      }
    }
    for (const other of [
      'arn:aws:sns:eu-west-1:123456789012:other-app-events',
      'arn:aws:sns:eu-west-1:111122223333:aurora-export-rds-events',
      'arn:aws:sns:us-east-1:123456789012:aurora-export-rds-events',
    ]) {
      expect(evaluatePolicy(policy, publishRequest('events.rds.amazonaws.com', other)).decision).toBe('implicit-deny');
    }
  });

  it('gives the SNS service principal itself no use of the key', () => {
    const policy = resolved();
    expect(
      evaluatePolicy(
        policy,
        publishRequest('sns.amazonaws.com', 'arn:aws:sns:eu-west-1:123456789012:aurora-export-alerts'),
      ).decision,
    ).toBe('implicit-deny');
  });
});

describe('Construct: ExportBucket', () => {
  it('blocks every kind of public access', () => {
    expect(json).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
  });

  it('enforces bucket-owner ownership (no ACLs)', () => {
    expect(json).toHaveResourceWithProperties(S3BucketOwnershipControls, {
      rule: { object_ownership: 'BucketOwnerEnforced' },
    });
  });

  it('encrypts by default with the pipeline key (SSE-KMS, bucket key)', () => {
    const rule = (only(tf, 'aws_s3_bucket_server_side_encryption_configuration').rule as Array<Record<string, any>>)[0];
    expect(rule.apply_server_side_encryption_by_default.sse_algorithm).toBe('aws:kms');
    expect(rule.apply_server_side_encryption_by_default.kms_master_key_id).toMatch(/aws_kms_key\..+\.arn/);
    expect(rule.bucket_key_enabled).toBe(true);
  });

  it('denies every request that is not TLS', () => {
    const [deny] = statementsOf(only(tf, 'aws_s3_bucket_policy').policy as string);
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(resourcesOf(deny)).toHaveLength(2);
  });

  it('expires exports after the configured retention and aborts stale multipart uploads', () => {
    const rules = only(tf, 'aws_s3_bucket_lifecycle_configuration').rule as Array<Record<string, any>>;
    const expire = rules.find((r) => r.id === 'expire-exports')!;
    expect(expire.expiration).toEqual([{ days: exampleConfig().exportRetentionDays }]);
    expect(expire.filter).toEqual([{ prefix: 'exports/' }]);
    const abort = rules.find((r) => r.id === 'abort-incomplete-multipart-uploads')!;
    expect(abort.abort_incomplete_multipart_upload).toEqual([{ days_after_initiation: 1 }]);
  });

  it('follows the configured retention days', () => {
    const { tf: other } = synthStack(exampleConfig((c) => ({ ...c, exportRetentionDays: 30 })));
    const rules = only(other, 'aws_s3_bucket_lifecycle_configuration').rule as Array<Record<string, any>>;
    expect(rules.find((r) => r.id === 'expire-exports')!.expiration).toEqual([{ days: 30 }]);
  });
});

describe('Construct: RunTable', () => {
  it('is on-demand with point-in-time recovery, TTL and SSE under the pipeline key', () => {
    expect(json).toHaveResourceWithProperties(DynamodbTable, {
      billing_mode: 'PAY_PER_REQUEST',
      hash_key: RunTableLayout.partitionKey,
      range_key: RunTableLayout.sortKey,
      point_in_time_recovery: { enabled: true },
      ttl: { attribute_name: RunTableLayout.ttlAttribute, enabled: true },
    });
    const table = only(tf, 'aws_dynamodb_table') as Record<string, any>;
    expect(table.server_side_encryption.enabled).toBe(true);
    expect(table.server_side_encryption.kms_key_arn).toMatch(/aws_kms_key\./);
  });

  it('is protected from deletion, so no destroy or replacing plan can erase the run history', () => {
    expect(only(tf, 'aws_dynamodb_table').deletion_protection_enabled).toBe(true);
  });

  it('has the two indexes of the table layout', () => {
    const gsis = (only(tf, 'aws_dynamodb_table') as Record<string, any>).global_secondary_index;
    expect(gsis).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'bySourceSnapshot', hash_key: 'sourceSnapshotArn', range_key: 'createdAt' }),
        expect.objectContaining({ name: 'byStage', hash_key: 'stage', range_key: 'updatedAt' }),
      ]),
    );
  });
});

describe('Construct: PipelineTopics', () => {
  it('encrypts all three topics with the pipeline key', () => {
    const topics = Object.values(resources(tf, 'aws_sns_topic'));
    expect(topics.map((t) => t.name).sort()).toEqual([
      'aurora-export-alerts',
      'aurora-export-pipeline',
      'aurora-export-rds-events',
    ]);
    for (const t of topics) expect(t.kms_master_key_id).toMatch(/aws_kms_key\./);
  });

  it('admits RDS events only from this account', () => {
    const policy = Object.values(resources(tf, 'aws_sns_topic_policy')).find((p) =>
      (p.policy as string).includes('events.rds.amazonaws.com'),
    )!;
    const allowRds = bySid(statementsOf(policy.policy as string), 'RdsEventsFromThisAccountOnly');
    expect(allowRds.Principal).toEqual({ Service: 'events.rds.amazonaws.com' });
    expect(allowRds.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': expect.stringMatching(ACCOUNT) } });
  });

  it('subscribes every configured email to the alerts topic', () => {
    const emails = Object.values(resources(tf, 'aws_sns_topic_subscription')).filter((s) => s.protocol === 'email');
    expect(emails.map((e) => e.endpoint)).toEqual(['data-platform@example.com']);
  });

  it('sends alerts to an existing topic as well when one is configured', () => {
    const extra = 'arn:aws:sns:eu-west-1:111122223333:ops-alerts';
    const { tf: other } = synthStack(exampleConfig((c) => ({ ...c, notifications: { emails: [], topicArn: extra } })));
    for (const alarm of Object.values(resources(other, 'aws_cloudwatch_metric_alarm')))
      expect(alarm.alarm_actions).toContain(extra);
    expect(JSON.stringify(stagePolicy(other, 'cleanup'))).toContain(extra);
  });
});

describe('Construct: RdsEventSubscription', () => {
  it('subscribes to cluster snapshot and cluster events with the categories that carry the pipeline events', () => {
    const subs = Object.values(resources(tf, 'aws_db_event_subscription'));
    expect(subs.map((s) => [s.source_type, s.event_categories])).toEqual([
      ['db-cluster-snapshot', ['backup', 'notification']],
      ['db-cluster', ['creation', 'notification']],
    ]);
    for (const s of subs) expect(s.sns_topic).toMatch(/aws_sns_topic\.pipeline_topics_rds-events/);
  });
});

describe('Construct: ExportRole', () => {
  it('is trusted by export.rds.amazonaws.com only, with no condition the export service does not send', () => {
    const role = Object.values(resources(tf, 'aws_iam_role')).find((r) => r.name === 'aurora-export-rds-export')!;
    expect(statementsOf(role.assume_role_policy as string)).toEqual([
      { Effect: 'Allow', Principal: { Service: 'export.rds.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
  });

  it('can be passed only by the stages that start exports, and only to RDS', () => {
    const passers = STAGES.filter((stage) =>
      stagePolicy(tf, stage).Statement.some((s) => actionsOf(s).includes('iam:PassRole')),
    );
    expect(passers.sort()).toEqual([StageFunction.EXPORT, StageFunction.START].sort());
  });

  it('writes only under the export prefix', () => {
    const policy = Object.values(resources(tf, 'aws_iam_role_policy')).find((p) => p.name === 'write-exports')!;
    const write = bySid(statementsOf(policy.policy as string), 'WriteExports');
    expect(resourcesOf(write)).toEqual([
      expect.stringMatching(
        /^arn:\$\{data\.aws_partition\.[^}]+\}:s3:::aurora-export-exports-\$\{[^}]+\}-\$\{[^}]+\}\/exports\/\*$/,
      ),
    ]);
  });
});

describe('Construct: StageFunction', () => {
  const functions = Object.values(resources(tf, 'aws_lambda_function'));

  it('creates one Node.js 22 function per stage with a deterministic code hash', () => {
    expect(functions.map((f) => f.function_name).sort()).toEqual(STAGES.map((s) => `aurora-export-${s}`).sort());
    for (const f of functions) {
      expect(f.runtime).toBe('nodejs22.x');
      expect(f.handler).toBe('index.handler');
      expect(f.source_code_hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(f.filename).toMatch(/^assets\/.+\/[0-9a-f]{64}\/.+\.zip$/);
    }
    expect(json).toHaveResourceWithProperties(LambdaFunction, {
      function_name: 'aurora-export-copy',
      memory_size: 512,
      timeout: 900,
    });
  });

  it('gives each function its own role', () => {
    const roles = new Set(functions.map((f) => f.role));
    expect(roles.size).toBe(STAGES.length);
  });

  it('passes settings the handlers accept, with the account id from Terraform', () => {
    for (const stage of STAGES) {
      const settings = synthesizedSettings(tf, stack, stage);
      expect(settings.accountId).toMatch(ACCOUNT);
      expect(settings.tempResourcePrefix).toBe('aurora-export-tmp-');
      expect(runtimeSettingsSchema.safeParse({ ...settings, accountId: '123456789012' }).success).toBe(true);
    }
  });

  it('keeps what grows with the configuration out of the environment: it travels in the package', () => {
    for (const f of functions) {
      const environment = JSON.parse((f.environment as any).variables.PIPELINE_SETTINGS);
      expect(Object.keys(environment).sort()).toEqual([...DEPLOYED_SETTING_KEYS].sort());
    }
    expect(synthesizedSettings(tf, stack, StageFunction.START).sourceClusters).toEqual(exampleConfig().sourceClusters);
  });

  it('gives each function a log group with the configured retention, encrypted with the pipeline key, and logs only there', () => {
    const groups = Object.values(resources(tf, 'aws_cloudwatch_log_group'));
    expect(groups).toHaveLength(STAGES.length);
    for (const g of groups) {
      expect(g.retention_in_days).toBe(30);
      expect(g.kms_key_id).toMatch(/^\$\{aws_kms_key\.pipeline_key_[0-9A-F]+\.arn\}$/);
    }
    for (const stage of STAGES) {
      const logs = bySid(stagePolicy(tf, stage).Statement, 'WriteOwnLogs');
      expect(actionsOf(logs)).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(resourcesOf(logs)).toEqual([
        expect.stringMatching(new RegExp(`:log-group:/aws/lambda/aurora-export-${stage}:\\*$`)),
      ]);
    }
  });

  it('traces every function actively, its role writing traces only in the pipeline region', () => {
    for (const f of functions) expect(f.tracing_config).toEqual({ mode: 'Active' });
    for (const stage of STAGES) {
      const traces = bySid(stagePolicy(tf, stage).Statement, 'WriteTraces');
      expect(actionsOf(traces).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      expect(resourcesOf(traces)).toEqual(['*']);
      expect(traces.Condition).toEqual({
        StringEquals: { 'aws:RequestedRegion': expect.stringMatching(/^\$\{data\.aws_region\..+\.name\}$/) },
      });
    }
  });

  it('parks failed async events in a KMS-encrypted dead-letter queue after two retries', () => {
    const queues = Object.values(resources(tf, 'aws_sqs_queue'));
    expect(queues).toHaveLength(STAGES.length);
    for (const q of queues) expect(q.kms_master_key_id).toMatch(/aws_kms_key\./);
    for (const c of Object.values(resources(tf, 'aws_lambda_function_event_invoke_config'))) {
      expect(c.maximum_retry_attempts).toBe(2);
      expect((c.destination_config as any).on_failure.destination).toMatch(/aws_sqs_queue\..+\.arn/);
    }
  });

  const subscriptions = Object.values(resources(tf, 'aws_sns_topic_subscription')).filter(
    (s) => s.protocol === 'lambda',
  );
  const rdsFilters = Object.fromEntries(
    subscriptions
      .filter((s) => s.filter_policy_scope === 'MessageBody')
      .map((s) => [String(s.endpoint).match(/pipeline_([a-z-]+)_function/)![1], JSON.parse(s.filter_policy as string)]),
  );

  it.each([
    [StageFunction.START, ['0169']],
    [StageFunction.SNAPSHOT, ['0170']],
    [StageFunction.EXPORT, ['0075']],
    [StageFunction.EXPORT_FINISHED, ['0164', '0162', '0163', '0236', '0234', '0235']],
  ])('lets only its RDS events through to %s (suffix match on Event ID)', (stage, ids) => {
    expect(rdsFilters[stage]).toEqual({ 'Event ID': ids.map((id) => ({ suffix: `#RDS-EVENT-${id}` })) });
  });

  it('subscribes no other stage to RDS events', () => {
    expect(Object.keys(rdsFilters).sort()).toEqual(['export', 'export-finished', 'snapshot', 'start']);
  });

  it('lets through pipeline messages whose target attribute names the stage, for every stage', () => {
    const byTarget = subscriptions
      .filter((s) => s.filter_policy_scope === 'MessageAttributes')
      .map((s) => JSON.parse(s.filter_policy as string));
    expect(byTarget.map((f) => f.target[0]).sort()).toEqual([...STAGES].sort());
    for (const f of byTarget) expect(Object.keys(f)).toEqual(['target']);
  });

  it('lets SNS invoke each subscribed function from its topic only', () => {
    const snsPermissions = Object.values(resources(tf, 'aws_lambda_permission')).filter(
      (p) => p.principal === 'sns.amazonaws.com',
    );
    expect(snsPermissions).toHaveLength(subscriptions.length);
    for (const p of snsPermissions) expect(p.source_arn).toMatch(/aws_sns_topic\..+\.arn/);
  });
});

describe('Stage permissions', () => {
  const tempCluster = /:cluster:aurora-export-tmp-\*$/;
  const tempSnapshot = /:cluster-snapshot:aurora-export-tmp-\*$/;

  it("lets the two stages that start exports use a source cluster's customer-managed key alike, through RDS in this region only", () => {
    const sourceKey = 'arn:aws:kms:eu-west-1:123456789012:key/2c3d4e5f-6a7b-4c8d-9e0f-112233445566';
    const { tf: withKey } = synthStack(
      exampleConfig((c) => ({
        ...c,
        sourceClusters: [
          { identifier: 'me3-serverless', snapshotKmsKeyArn: sourceKey },
          { identifier: 'orders-provisioned' },
        ],
      })),
    );
    const grants = [StageFunction.START, StageFunction.EXPORT].map((stage) =>
      bySid(stagePolicy(withKey, stage).Statement, 'SourceKeysThroughRds'),
    );
    expect(grants[1]).toEqual(grants[0]);
    expect(resourcesOf(grants[0])).toEqual([sourceKey]);
    expect(actionsOf(grants[0]).sort()).toEqual(['kms:CreateGrant', 'kms:DescribeKey']);
    expect(grants[0].Condition).toEqual({
      StringEquals: {
        'kms:ViaService': expect.stringMatching(/^rds\.\$\{data\.aws_region\..+\.name\}\.amazonaws\.com$/),
      },
    });
    for (const stage of STAGES.filter((x) => x !== StageFunction.START && x !== StageFunction.EXPORT))
      expect(JSON.stringify(stagePolicy(withKey, stage))).not.toContain(sourceKey);
    expect(JSON.stringify(stagePolicy(tf, 'start'))).not.toContain('SourceKeysThroughRds');
  });

  it('gives the two stages that start exports the same rights on the export itself', () => {
    const exportRights = (stage: StageFunction) => {
      const statements = stagePolicy(tf, stage).Statement;
      const key = bySid(statements, 'UsePipelineKey');
      return {
        pass: bySid(statements, 'PassExportRoleToRds'),
        key: actionsOf(key).filter((a) => a === 'kms:CreateGrant' || a === 'kms:DescribeKey'),
      };
    };
    expect(exportRights(StageFunction.EXPORT)).toEqual(exportRights(StageFunction.START));
    expect(exportRights(StageFunction.START).key).toEqual(['kms:CreateGrant', 'kms:DescribeKey']);
  });

  it('passes the export role only, and only to RDS', () => {
    for (const stage of [StageFunction.START, StageFunction.EXPORT]) {
      const pass = bySid(stagePolicy(tf, stage).Statement, 'PassExportRoleToRds');
      expect(resourcesOf(pass)).toEqual([
        expect.stringMatching(/^arn:\$\{[^}]+\}:iam::\$\{[^}]+\}:role\/aurora-export-rds-export$/),
      ]);
      expect(pass.Condition).toEqual({
        StringEquals: { 'iam:PassedToService': ['rds.amazonaws.com', 'export.rds.amazonaws.com'] },
      });
    }
    for (const stage of STAGES.filter((s) => s !== 'start' && s !== 'export')) {
      expect(JSON.stringify(stagePolicy(tf, stage))).not.toContain('iam:PassRole');
    }
  });

  it('deletes only temporary clusters and snapshots', () => {
    for (const stage of STAGES) {
      for (const s of stagePolicy(tf, stage).Statement) {
        if (actionsOf(s).some((a) => /^rds:Delete/.test(a))) {
          for (const r of resourcesOf(s)) expect(r).toMatch(new RegExp(`${tempCluster.source}|${tempSnapshot.source}`));
        }
      }
    }
  });

  it('lets no role that deletes clusters create a snapshot, so a final snapshot can never be taken', () => {
    for (const stage of STAGES) {
      const actions = stagePolicy(tf, stage).Statement.flatMap(actionsOf);
      if (actions.includes('rds:DeleteDBCluster')) expect(actions).not.toContain('rds:CreateDBClusterSnapshot');
    }
  });

  it('restores and exports only snapshots of the configured clusters or temporary ones', () => {
    const start = stagePolicy(tf, 'start').Statement;
    const sourceSnapshots = bySid(start, 'RestoreOrExportSourceSnapshots');
    expect(actionsOf(sourceSnapshots)).toEqual(['rds:RestoreDBClusterFromSnapshot', 'rds:StartExportTask']);
    const snapshots = resourcesOf(sourceSnapshots);
    expect(snapshots.map((r) => r.replace(/^.*:cluster-snapshot:/, '')).sort()).toEqual(
      ['me3-serverless-*', 'orders-provisioned-*', 'rds:me3-serverless-*', 'rds:orders-provisioned-*'].sort(),
    );
    const exports = resourcesOf(bySid(stagePolicy(tf, 'export').Statement, 'StartExports'));
    expect(exports.map((r) => r.replace(/^.*:cluster-snapshot:/, '')).sort()).toEqual(
      [
        'aurora-export-tmp-*',
        'me3-serverless-*',
        'orders-provisioned-*',
        'rds:me3-serverless-*',
        'rds:orders-provisioned-*',
      ].sort(),
    );
    const restore = resourcesOf(bySid(start, 'RestoreToTemporaryCluster'));
    expect(restore.filter((r) => r.includes(':cluster:'))).toEqual([expect.stringMatching(tempCluster)]);
    expect(restore.filter((r) => r.includes(':cluster-snapshot:'))).toEqual([]);
    expect(restore).toContainEqual(expect.stringMatching(/:subgrp:private-db-subnets$/));
  });

  it('reads the export bucket only under the export prefix and writes only to the destination prefixes of the owner account', () => {
    const copy = stagePolicy(tf, 'copy').Statement;
    expect(bySid(copy, 'ListExports').Condition).toEqual({ StringLike: { 's3:prefix': ['exports', 'exports/*'] } });
    expect(resourcesOf(bySid(copy, 'ReadExports'))).toEqual([
      expect.stringMatching(/:s3:::aurora-export-exports-.+\/exports\/\*$/),
    ]);
    const write = bySid(copy, 'WriteDestination');
    expect(resourcesOf(write)).toEqual([
      'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake/object/me3/me3-serverless/*',
      'arn:aws:s3:eu-west-1:210987654321:accesspoint/me3-datalake/object/me3/orders-provisioned/*',
    ]);
    expect(write.Condition).toEqual({ StringEquals: { 's3:ResourceAccount': '210987654321' } });
    expect(resourcesOf(bySid(copy, 'EncryptWithDestinationKey'))).toEqual([exampleConfig().destination.kmsKeyArn]);
  });

  it('lets each stage use the run table items and indexes, without scans', () => {
    for (const stage of STAGES) {
      const table = bySid(stagePolicy(tf, stage).Statement, 'RunTableItems');
      expect(actionsOf(table)).not.toContain('dynamodb:Scan');
      expect(resourcesOf(table)).toEqual([
        expect.stringMatching(/:table\/aurora-export-runs$/),
        expect.stringMatching(/:table\/aurora-export-runs\/index\/\*$/),
      ]);
    }
  });
});

describe('Construct: ReconcilerSchedule', () => {
  it('runs the reconciler at the configured period', () => {
    expect(only(tf, 'aws_cloudwatch_event_rule').schedule_expression).toBe('rate(15 minutes)');
    expect(only(tf, 'aws_cloudwatch_event_target').arn).toMatch(
      /aws_lambda_function\.pipeline_reconcile_function_.+\.arn/,
    );
    const permission = Object.values(resources(tf, 'aws_lambda_permission')).find(
      (p) => p.principal === 'events.amazonaws.com',
    )!;
    expect(permission.source_arn).toMatch(/aws_cloudwatch_event_rule\..+\.arn/);
  });
});

describe('Construct: Alarms', () => {
  const alarms = Object.values(resources(tf, 'aws_cloudwatch_metric_alarm'));

  it('alarms on any dead letter and any error of every function, to the alerts topic', () => {
    expect(alarms.filter((a) => a.metric_name === 'ApproximateNumberOfMessagesVisible')).toHaveLength(STAGES.length);
    expect(alarms.filter((a) => a.metric_name === 'Errors' && a.namespace === 'AWS/Lambda')).toHaveLength(
      STAGES.length,
    );
    for (const a of alarms) {
      expect(a.threshold).toBe(0);
      expect(a.comparison_operator).toBe('GreaterThanThreshold');
      expect(a.alarm_actions).toEqual([expect.stringMatching(/aws_sns_topic\.pipeline_topics_alerts_.+\.arn/)]);
    }
  });

  it('alarms on failed runs and runs past their deadline from the pipeline metrics', () => {
    for (const metric of [PipelineMetrics.runFailed, PipelineMetrics.runPastDeadline]) {
      const a = alarms.find((x) => x.metric_name === metric)!;
      expect(a.namespace).toBe(PipelineMetrics.namespace);
      expect(a.dimensions).toEqual({ Pipeline: 'aurora-export' });
    }
  });
});

describe('Stack: PipelineStack', () => {
  it('tags every resource through provider default tags', () => {
    expect(tf.provider.aws[0].default_tags).toEqual([
      { tags: { owner: 'data-platform', project: 'aurora-datalake-export' } },
    ]);
  });

  it('uses the local backend by default and S3 with locking when configured', () => {
    const { tf: local } = synthStack(exampleConfig(({ backend: _, ...c }) => c));
    expect(local.terraform.backend).toEqual({ local: { path: 'terraform.tfstate' } });
    const { tf: s3 } = synthStack(
      exampleConfig((c) => ({
        ...c,
        backend: { type: 's3', bucket: 'tf-state-bucket', key: 'aurora/export.tfstate', region: 'eu-west-1' },
      })),
    );
    expect(s3.terraform.backend).toEqual({
      s3: {
        bucket: 'tf-state-bucket',
        key: 'aurora/export.tfstate',
        region: 'eu-west-1',
        encrypt: true,
        use_lockfile: true,
      },
    });
  });

  it('outputs what a reviewer and an operator need', () => {
    expect(Object.keys(tf.output).sort()).toEqual(
      [
        'alerts_topic_arn',
        'client_policy_statements',
        'copy_role_arn',
        'dead_letter_queue_arns',
        'destination',
        'export_bucket_arn',
        'export_bucket_name',
        'export_prefix',
        'export_role_arn',
        'function_arns',
        'function_role_arns',
        'kms_key_arn',
        'pipeline_topic_arn',
        'rds_events_topic_arn',
        'run_table_arn',
        'run_table_name',
      ].sort(),
    );
    const client = JSON.parse(tf.output.client_policy_statements.value as string);
    expect(JSON.stringify(client.accessPointPolicy)).toContain('${aws_iam_role.pipeline_copy_role_');
  });

  it('reads partition, region and account from Terraform instead of hard-coding them', () => {
    expect(Object.keys(tf.data).sort()).toEqual(['aws_caller_identity', 'aws_partition', 'aws_region']);
    // The provider and backend name the configured deploy and state roles; the resources name no account.
    const { provider: _, terraform: __, ...built } = JSON.parse(Testing.synth(synthStack().stack));
    expect(JSON.stringify(built)).not.toMatch(/arn:aws:(rds|s3|kms|sns|iam)::?\d{12}/);
  });
});
