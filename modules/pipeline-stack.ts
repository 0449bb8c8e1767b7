import type { Construct } from 'constructs';
import { CloudBackend, LocalBackend, NamedCloudWorkspace, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider, type AwsProviderConfig } from '@cdktf/provider-aws/lib/provider';
import type { PipelineConfig } from '../config/schema';
import { AwsContext } from './aws-context';
import { clientPolicyStatements } from './client-policy';
import { ExportPipeline, STAGES } from './export-pipeline';
import { jsonExpression } from './iam';
import { bundleLambdas, type BundleOptions, type LambdaZip } from './lambda-bundle';

/**
 * Id of the stack of a single-environment configuration; an environment's stack is named after the environment.
 * The synthesized Terraform lands in `cdktf.out/stacks/<id>/`.
 */
export const STACK_ID = 'pipeline';

/** Entry file of a stage's handler. */
export function handlerEntry(stage: string): string {
  return `lambdas/${stage}/handler.ts`;
}

/** Props of {@link PipelineStack}. */
export interface PipelineStackProps {
  /** The validated configuration. */
  readonly config: PipelineConfig;
  /**
   * A provider that never leaves the machine (dummy credentials, every skip flag, loopback endpoints) and a
   * literal account id, for `terraform plan` without AWS. Never for a deployment.
   * @default off: the provider uses the standard credential chain and reads the account from it
   */
  readonly offline?: { readonly accountId: string; readonly endpoint: string };
  /** Bundled handlers to use instead of bundling `lambdas/<stage>/handler.ts`. @default bundle at synth */
  readonly code?: ReadonlyMap<string, LambdaZip>;
  /** How handlers are bundled when `code` is not given. */
  readonly bundle?: BundleOptions;
}

/** Services the pipeline's resources belong to, pointed at the loopback endpoint in offline mode. */
const OFFLINE_SERVICES = [
  'cloudwatch',
  'cloudwatchlogs',
  'dynamodb',
  'eventbridge',
  'iam',
  'kms',
  'lambda',
  'rds',
  's3',
  'sns',
  'sqs',
  'sts',
] as const;

function offlineProvider(endpoint: string): Partial<AwsProviderConfig> {
  return {
    accessKey: 'offline-plan',
    secretKey: 'offline-plan',
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: 'true',
    skipRegionValidation: true,
    s3UsePathStyle: true,
    endpoints: [Object.fromEntries(OFFLINE_SERVICES.map((s) => [s, endpoint]))],
  };
}

/** The pipeline's Terraform stack: provider with default tags, backend, and the {@link ExportPipeline}. */
export class PipelineStack extends TerraformStack {
  public readonly pipeline: ExportPipeline;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id);
    const { config } = props;

    new AwsProvider(this, 'aws', {
      region: config.region,
      ...(Object.keys(config.tags).length > 0 ? { defaultTags: [{ tags: config.tags }] } : {}),
      // The account guard: credentials of any other account fail the plan before anything is read or changed.
      // Offline there is no account to check (the provider then rejects every account), so no guard and no role.
      ...(config.accountId && !props.offline ? { allowedAccountIds: [config.accountId] } : {}),
      ...(config.assumeRole && !props.offline
        ? {
            assumeRole: [
              {
                roleArn: config.assumeRole.roleArn,
                sessionName: config.assumeRole.sessionName,
                externalId: config.assumeRole.externalId,
              },
            ],
          }
        : {}),
      ...(props.offline ? offlineProvider(props.offline.endpoint) : {}),
    });
    this.backend(config.backend);

    const aws = new AwsContext(this, 'aws-context', props.offline ? { accountId: props.offline.accountId } : {});
    const code =
      props.code ??
      bundleLambdas(
        STAGES.map((stage) => ({ name: stage, entry: handlerEntry(stage) })),
        props.bundle,
      );
    this.pipeline = new ExportPipeline(this, 'pipeline', { config, aws, code });
    this.outputs(config);
  }

  /** State: a local file in the stack folder, an S3 object (role, KMS key, native lock), or an HCP Terraform workspace. */
  private backend(b: PipelineConfig['backend']): void {
    if (b.type === 's3') {
      const backend = new S3Backend(this, {
        bucket: b.bucket,
        key: b.key,
        region: b.region,
        encrypt: b.encrypt,
        kmsKeyId: b.kmsKeyArn,
        dynamodbTable: b.dynamodbTable,
        ...(b.roleArn ? { assumeRole: { roleArn: b.roleArn } } : {}),
      });
      // S3 native locking (Terraform ≥ 1.10) is not among cdktf's typed backend options.
      if (b.useLockfile) backend.addOverride('use_lockfile', true);
    } else if (b.type === 'cloud') {
      new CloudBackend(this, {
        hostname: b.hostname,
        organization: b.organization,
        workspaces: new NamedCloudWorkspace(b.workspace, b.project),
      });
    } else {
      new LocalBackend(this, { path: b.path });
    }
  }

  private outputs(config: PipelineConfig): void {
    const p = this.pipeline;
    const out = (id: string, value: unknown, description: string) =>
      new TerraformOutput(this, id, { value, description });
    const byStage = <T>(f: (stage: (typeof STAGES)[number]) => T) => Object.fromEntries(STAGES.map((s) => [s, f(s)]));
    const copyRoleArn = p.stageFunction('copy').role.arn;

    out('export_bucket_name', p.bucket.bucketName, 'Our bucket the exports land in before the copy');
    out('export_bucket_arn', p.bucket.bucketArn, 'ARN of the export bucket');
    out('export_prefix', p.bucket.exportPrefix, 'Key prefix of exports in the export bucket');
    out('kms_key_arn', p.key.keyArn, 'Customer-managed key of exports, table, topics and queues');
    out('run_table_name', p.table.tableName, 'DynamoDB table of export runs');
    out('run_table_arn', p.table.tableArn, 'ARN of the run table');
    out('rds_events_topic_arn', p.topics.rdsEvents.arn, 'Topic RDS event subscriptions publish to');
    out(
      'pipeline_topic_arn',
      p.topics.pipeline.arn,
      'Internal topic; publish {target, kind, ...} here to move work along',
    );
    out('alerts_topic_arn', p.topics.alerts.arn, 'Topic of alarms and run failure/success messages');
    out('export_role_arn', p.exportRole.roleArn, 'Role RDS assumes to write exports');
    out(
      'function_arns',
      byStage((s) => p.stageFunction(s).function.arn),
      'Stage function ARNs by stage',
    );
    out(
      'function_role_arns',
      byStage((s) => p.stageFunction(s).role.arn),
      'Stage function role ARNs by stage',
    );
    out(
      'dead_letter_queue_arns',
      byStage((s) => p.stageFunction(s).deadLetterQueue.arn),
      'Dead-letter queue ARNs by stage',
    );
    out('copy_role_arn', copyRoleArn, 'Role the client grants write access to on their access point, bucket and key');
    out(
      'destination',
      {
        access_point_arn: config.destination.accessPointArn ?? '',
        bucket: config.destination.bucket ?? '',
        expected_owner_account_id: config.destination.expectedOwnerAccountId,
        key_prefix_template: config.destination.keyPrefixTemplate,
        kms_key_arn: config.destination.kmsKeyArn ?? '',
      },
      'Where copies are delivered',
    );
    out(
      'client_policy_statements',
      jsonExpression(clientPolicyStatements({ config, copyRoleArn })),
      'JSON: statements the client adds to their access point, bucket and KMS key policies',
    );
  }
}
