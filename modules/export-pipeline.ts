import { Construct } from 'constructs';
import { Token } from 'cdktf';
import { SETTINGS_FILE } from '../lambdas/shared/contracts/settings';
import { tempResourceTags } from '../lambdas/shared/domain/naming';
import { copyWorkers, type PipelineConfig } from '../config/schema';
import { StageFunction as Stage } from '../lambdas/shared/domain/run';
import { Alarms } from './alarms';
import type { AwsContext } from './aws-context';
import { AWS_LIMITS, LimitChecks } from './aws-limits';
import { clientPolicyStatements } from './client-policy';
import { ExportBucket } from './export-bucket';
import { ExportRole } from './export-role';
import { allow, type Statement } from './iam';
import { type LambdaZip, withFiles } from './lambda-bundle';
import { PipelineKey } from './pipeline-key';
import { PipelineTopics } from './pipeline-topics';
import { RdsEventSubscription } from './rds-event-subscription';
import { ReconcilerSchedule } from './reconciler-schedule';
import { RunTable } from './run-table';
import { buildRuntimeSettings, packageRuntimeSettings, tempResourcePrefixOf } from './runtime-settings';
import { EXPORT_STARTERS, STAGE_PUBLISHES, STAGE_RDS_EVENTS, stagePermissions } from './stage-permissions';
import { COPY_TIMEOUT_SECONDS, StageFunction } from './stage-function';

/** Props of {@link ExportPipeline}. */
export interface ExportPipelineProps {
  readonly config: PipelineConfig;
  readonly aws: AwsContext;
  /** The bundled handler of every stage. */
  readonly code: ReadonlyMap<string, LambdaZip>;
  /** Key prefix of exports in our bucket. @default 'exports' */
  readonly exportPrefix?: string;
}

/** Every stage, in pipeline order. */
export const STAGES: readonly Stage[] = Object.values(Stage);

/** The longest partition name (`aws-us-gov`): ARNs are measured with it. */
const MAX_PARTITION_LENGTH = 10;

/**
 * The whole pipeline, in the order of the architecture:
 *
 *   RDS ──event subscriptions──▶ RDS events topic ──filter on Event ID──▶ start / snapshot / export / export-finished
 *   stages and reconciler ──▶ pipeline topic ──filter on target──▶ any stage          schedule ──▶ reconcile
 *   start/export ──StartExportTask(export role, key)──▶ export bucket ──copy──▶ client's access point
 *   every stage ──▶ run table;  failures ──▶ dead-letter queues ──▶ alarms ──▶ alerts topic
 */
export class ExportPipeline extends Construct {
  public readonly key: PipelineKey;
  public readonly bucket: ExportBucket;
  public readonly table: RunTable;
  public readonly topics: PipelineTopics;
  public readonly exportRole: ExportRole;
  public readonly functions: ReadonlyMap<Stage, StageFunction>;
  /** The `settings.json` packaged beside every handler. */
  public readonly settingsFile: Uint8Array;

  constructor(scope: Construct, id: string, props: ExportPipelineProps) {
    super(scope, id);
    const { config, aws } = props;
    const namePrefix = config.namePrefix;
    const exportPrefix = props.exportPrefix ?? 'exports';

    // Storage and encryption
    this.key = new PipelineKey(this, 'key', { namePrefix, aws });
    const kmsKeyArn = this.key.keyArn;
    this.bucket = new ExportBucket(this, 'export-bucket', {
      namePrefix,
      aws,
      kmsKeyArn,
      exportPrefix,
      retentionDays: config.exportRetentionDays,
    });
    this.table = new RunTable(this, 'run-table', { namePrefix, kmsKeyArn, aws });
    // Identity policies name the key as every key of the account narrowed to this key's alias: its ARN holds a
    // random id that is unknown until the key exists, and a policy naming it would be unknown in the first plan.
    const keyInPolicies = this.key.policyResource;
    const scopeToKey = (statements: readonly Statement[]) => this.key.scopeToKey(statements);

    // Events in
    this.topics = new PipelineTopics(this, 'topics', {
      namePrefix,
      aws,
      kmsKeyArn,
      alertEmails: config.notifications.emails,
      extraAlertTopicArn: config.notifications.topicArn,
    });
    new RdsEventSubscription(this, 'rds-events', {
      namePrefix,
      topicArn: this.topics.rdsEvents.arn,
      dependsOn: [this.topics.rdsEventsPolicy, this.key.key],
    });

    // The export itself
    this.exportRole = new ExportRole(this, 'export-role', {
      namePrefix,
      aws,
      bucketArn: this.bucket.bucketArn,
      exportObjectsArn: this.bucket.exportObjectsArn,
      kmsKeyArn: keyInPolicies,
      scopeToKey,
    });

    // Stages
    const packaged = packageRuntimeSettings(
      buildRuntimeSettings(config, {
        accountId: aws.accountId,
        tableName: this.table.tableName,
        exportBucket: this.bucket.bucketName,
        exportPrefix,
        exportKmsKeyArn: kmsKeyArn,
        exportRoleArn: this.exportRole.roleArn,
        pipelineTopicArn: this.topics.pipeline.arn,
        alertTopicArns: this.topics.alertTopicArns,
      }),
    );
    this.settingsFile = packaged.file;
    // Partition, region and account are the only tokens in ARNs that grow with the configuration: measure
    // them at their real longest rather than as any reference.
    const limits = new LimitChecks(
      [
        { token: aws.partition, maxLength: MAX_PARTITION_LENGTH },
        { token: aws.region, maxLength: config.region.length },
        { token: aws.accountId, maxLength: 12 },
      ].filter((b) => Token.isUnresolved(b.token)),
    );
    const clusters = config.sourceClusters.length;
    const policyGrowth = `grows with sourceClusters: ${clusters} cluster${clusters === 1 ? '' : 's'}`;
    const permissionScope = {
      aws,
      tempResourcePrefix: tempResourcePrefixOf(namePrefix),
      sourceClusterIds: config.sourceClusters.map((c) => c.identifier),
      sourceSnapshotKmsKeyArns: config.sourceClusters.flatMap((c) =>
        c.snapshotKmsKeyArn ? [c.snapshotKmsKeyArn] : [],
      ),
      exportRoleArn: this.exportRole.policyArn,
      kmsKeyArn: keyInPolicies,
      exportBucketArn: this.bucket.bucketArn,
      exportPrefix,
      exportObjectsArn: this.bucket.exportObjectsArn,
      dbSubnetGroupName: config.restore.dbSubnetGroupName,
      destination: config.destination,
    };
    const functions = new Map<Stage, StageFunction>();
    for (const stage of STAGES) {
      const code = props.code.get(stage);
      if (!code) throw new Error(`No bundled handler for the ${stage} stage`);
      const publish = this.topics.grantPublish('PublishMessages', STAGE_PUBLISHES[stage]);
      const statements: Statement[] = [
        ...stagePermissions(stage, permissionScope),
        this.table.grantReadWrite(),
        ...(publish
          ? [publish, allow('EncryptMessages', ['kms:Decrypt', 'kms:GenerateDataKey'], [keyInPolicies])]
          : []),
      ];
      functions.set(
        stage,
        new StageFunction(this, stage, {
          namePrefix,
          aws,
          stage,
          code: withFiles(code, { [SETTINGS_FILE]: packaged.file }),
          settingsJson: packaged.environmentJson,
          limits,
          policyGrowth,
          statements: scopeToKey(mergeKeyStatements(statements, keyInPolicies)),
          kmsKeyArn,
          logRetentionDays: config.logRetentionDays,
          memoryMiB: config.lambda.memoryMiB,
          timeoutSeconds: stage === Stage.COPY ? COPY_TIMEOUT_SECONDS : config.lambda.timeoutSeconds,
          // One large export gets at most this many copy workers: the account keeps the rest of its concurrency,
          // and the copies in flight stay within what one destination prefix takes.
          reservedConcurrency: stage === Stage.COPY ? copyWorkers(config.copy) : undefined,
          rdsEvents:
            STAGE_RDS_EVENTS[stage].length > 0
              ? { topicArn: this.topics.rdsEvents.arn, eventIds: STAGE_RDS_EVENTS[stage] }
              : undefined,
          pipelineTopicArn: this.topics.pipeline.arn,
        }),
      );
    }
    this.functions = functions;

    const stageFunction = (stage: Stage) => this.stageFunction(stage);
    this.key.applyPolicy({
      functionRoleArns: STAGES.map((s) => stageFunction(s).roleArn),
      exportStarterRoleArns: EXPORT_STARTERS.map((s) => stageFunction(s).roleArn),
      exportRoleArn: this.exportRole.policyArn,
      roles: [...STAGES.map((s) => stageFunction(s).role), this.exportRole.role],
    });

    // Schedule and alarms
    const reconcile = stageFunction(Stage.RECONCILE);
    new ReconcilerSchedule(this, 'reconciler-schedule', {
      namePrefix,
      periodMinutes: config.reconcilerPeriodMinutes,
      functionName: reconcile.function.functionName,
      functionArn: reconcile.function.arn,
    });
    new Alarms(this, 'alarms', {
      namePrefix,
      alertTopicArns: this.topics.alertTopicArns,
      functions: STAGES.map((stage) => ({
        stage,
        functionName: stageFunction(stage).functionName,
        deadLetterQueueName: stageFunction(stage).deadLetterQueue.name,
      })),
    });

    this.checkConfiguredLimits(limits, config);
    // Everything past an AWS limit, listed at once, before anything is written.
    limits.assertWithinLimits();
  }

  /**
   * Limits the configuration reaches beyond the stack's own resources: the tags every resource carries
   * (provider default_tags; temporary resources add the pipeline's own), and the statements the client adds to their access point, bucket and key
   * policies (which must fit beside the client's own).
   */
  private checkConfiguredLimits(limits: LimitChecks, config: PipelineConfig): void {
    const tags = Object.entries(config.tags);
    const shown = (key: string) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
    // Temporary clusters and snapshots carry the most: the configured tags and the pipeline's own.
    limits.check(
      AWS_LIMITS.tagsPerResource,
      "tags (on every resource, and with the pipeline's own on each temporary cluster and snapshot)",
      tempResourceTags(config.namePrefix, 'run', config.tags).length,
    );
    for (const [key, value] of tags) {
      limits.check(AWS_LIMITS.tagKeyLength, `tags: the key ${shown(key)}`, [...key].length);
      limits.check(AWS_LIMITS.tagValueLength, `tags.${shown(key)}: its value`, [...value].length);
    }
    const client = clientPolicyStatements({ config, copyRoleArn: this.stageFunction(Stage.COPY).role.arn });
    const growth = `grows with sourceClusters and destination.keyPrefixTemplate: ${config.sourceClusters.length} clusters`;
    const size = (doc: unknown) => limits.resolvedSize(JSON.stringify(doc), 'bytes');
    if (client.accessPointPolicy) {
      const subject = "the statements for the client's access point policy";
      limits.check(AWS_LIMITS.s3AccessPointPolicy, subject, size(client.accessPointPolicy), growth);
    }
    limits.check(
      AWS_LIMITS.s3BucketPolicy,
      "the statements for the client's bucket policy",
      size(client.bucketPolicy),
      growth,
    );
    if (client.kmsKeyPolicy) {
      limits.check(
        AWS_LIMITS.kmsKeyPolicy,
        "the statements for the client's key policy",
        size(client.kmsKeyPolicy),
        growth,
      );
    }
  }

  /** The function of one stage; every stage has one, so a missing one is a construction bug. */
  public stageFunction(stage: Stage): StageFunction {
    const fn = this.functions.get(stage);
    if (!fn) throw new Error(`no function was built for the ${stage} stage`);
    return fn;
  }
}

/**
 * Several grants ask for actions on the pipeline key (decrypt exports, encrypt messages, let RDS create a
 * grant); folds them into one statement so each role's policy says plainly what it may do with the key.
 * `kmsKeyArn` is what the statements name the key by (PipelineKey.policyResource).
 */
function mergeKeyStatements(statements: readonly Statement[], kmsKeyArn: string): Statement[] {
  const onKey = (s: Statement) =>
    s.Effect === 'Allow' && !s.Condition && [s.Resource ?? []].flat().join() === kmsKeyArn;
  const actions = new Set(statements.filter(onKey).flatMap((s) => [s.Action].flat()));
  const rest = statements.filter((s) => !onKey(s));
  return actions.size > 0 ? [...rest, allow('UsePipelineKey', [...actions].sort(), [kmsKeyArn])] : rest;
}
