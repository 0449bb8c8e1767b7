import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { SNSEvent } from 'aws-lambda';
import { makeHandler, type CopyDeps, type CopyHandler } from '../../../lambdas/copy/handler';
import { CopyBatchStore } from '../../../lambdas/shared/adapters/copy-batch-store';
import { RunStore } from '../../../lambdas/shared/adapters/run-store';
import type { PipelineMessage, PipelinePublisher } from '../../../lambdas/shared/domain/messages';
import type { Run, StageFunction } from '../../../lambdas/shared/domain/run';
import { silentLogger } from '../../../lambdas/shared/runtime/logger';
import type { RuntimeSettings } from '../../../lambdas/shared/contracts/settings';
import type { DynaliteHandle } from '../../support/dynalite';
import type { S3rverHandle } from '../../support/s3rver';
import type { MemoryS3Handle } from '../../../bench/memory-s3';
import { DEFAULT_STAGE_DEADLINES } from '../../../config/schema';

export const SOURCE_BUCKET = 'exports-bucket';
export const DEST_BUCKET = 'client-lake';
export const PRINCIPAL = 'arn:aws:sts::123456789012:assumed-role/aurora-export-copy/aurora-export-copy';

/** Settings of a deployment whose destination is a plain bucket on the emulator. */
export function testSettings(
  tableName: string,
  over: { copy?: Partial<RuntimeSettings['copy']>; destination?: Partial<RuntimeSettings['destination']> } = {},
): RuntimeSettings {
  return {
    namePrefix: 'aurora-export',
    tempResourcePrefix: 'aurora-export-tmp-',
    managedByTag: 'aurora-export',
    accountId: '123456789012',
    tableName,
    exportBucket: SOURCE_BUCKET,
    exportPrefix: 'exports',
    exportKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-1111-2222-3333-444455556666',
    exportRoleArn: 'arn:aws:iam::123456789012:role/aurora-export-export',
    pipelineTopicArn: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline',
    alertTopicArns: [],
    notifyOnSuccess: true,
    sourceClusters: [{ identifier: 'orders', exportMode: 'auto', exportOnly: [] }],
    restore: { vpcSecurityGroupIds: [] },
    destination: {
      bucket: DEST_BUCKET,
      expectedOwnerAccountId: '210987654321',
      keyPrefixTemplate: 'lake/{cluster}/{date}/{runId}',
      aclMode: 'none',
      ...over.destination,
    },
    tableFailurePolicy: 'fail',
    copy: { concurrency: 8, partSizeMiB: 128, batchMaxObjects: 1000, batchMaxGiB: 50, ...over.copy },
    stageDeadlinesMinutes: DEFAULT_STAGE_DEADLINES,
    orphanGraceMinutes: 240,
    runRetentionDays: 90,
  };
}

/** A run that has just entered COPYING, its export at `exportS3Prefix`. */
export function copyingRun(runId: string, exportS3Prefix: string, over: Partial<Run> = {}): Run {
  const now = new Date().toISOString();
  return {
    runId,
    attempt: 1,
    sourceClusterId: 'orders',
    sourceSnapshotId: `rds:orders-2024-03-07-03-00-${runId}`,
    sourceSnapshotArn: `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2024-03-07-03-00-${runId}`,
    sourceSnapshotCreatedAt: '2024-03-07T03:00:00.000Z',
    path: 'direct',
    stage: 'COPYING',
    exportTaskId: 'aurora-export-tmp-task-1',
    exportAttempt: 1,
    exportS3Prefix,
    stageEnteredAt: { COPYING: now },
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}

/** Publisher that keeps what it was asked to publish. */
export class RecordingPublisher implements PipelinePublisher {
  readonly sent: Array<{ target: StageFunction; message: PipelineMessage }> = [];
  async publish(target: StageFunction, message: PipelineMessage): Promise<void> {
    this.sent.push({ target, message });
  }
  /** Takes the copy-batch messages sent so far out of the log. */
  takeBatches(): Array<Extract<PipelineMessage, { kind: 'copy-batch' }>> {
    const batches = this.sent
      .filter((s) => s.message.kind === 'copy-batch')
      .map((s) => s.message as Extract<PipelineMessage, { kind: 'copy-batch' }>);
    this.sent.splice(0, this.sent.length, ...this.sent.filter((s) => s.message.kind !== 'copy-batch'));
    return batches;
  }
  to(target: StageFunction): PipelineMessage[] {
    return this.sent.filter((s) => s.target === target).map((s) => s.message);
  }
}

/** An SNS event carrying one pipeline message. */
export function snsEvent(message: unknown): SNSEvent {
  const body = typeof message === 'string' ? message : JSON.stringify(message);
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline:sub',
        Sns: {
          Type: 'Notification',
          MessageId: 'm',
          TopicArn: 'arn:aws:sns:eu-west-1:123456789012:aurora-export-pipeline',
          Subject: '',
          Message: body,
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: { target: { Type: 'String', Value: 'copy' } },
        },
      },
    ],
  };
}

/** Everything a copy test needs, wired to dynalite and s3rver. */
export interface CopyWorld {
  readonly settings: RuntimeSettings;
  readonly store: RunStore;
  readonly batches: CopyBatchStore;
  readonly publisher: RecordingPublisher;
  handler(s3?: S3Client, over?: Partial<CopyDeps>): CopyHandler;
}

export async function copyWorld(
  dynalite: DynaliteHandle,
  s3: S3Client,
  settingsOver: Parameters<typeof testSettings>[1] = {},
): Promise<CopyWorld> {
  const tableName = await dynalite.createRunTable();
  const settings = testSettings(tableName, settingsOver);
  const client = dynalite.documentClient();
  const store = new RunStore({
    tableName,
    client,
    deadlinesMinutes: settings.stageDeadlinesMinutes,
    retentionDays: 90,
  });
  const batches = new CopyBatchStore({ tableName, client });
  const publisher = new RecordingPublisher();
  return {
    settings,
    store,
    batches,
    publisher,
    handler: (client = s3, over = {}) =>
      makeHandler({
        settings,
        store,
        batches,
        s3: client,
        publisher,
        logger: silentLogger(),
        principal: async () => PRINCIPAL,
        ...over,
      }),
  };
}

/** Writes an export into the emulator's store: `data` objects under tables, plus the export's JSON files. */
export function seedExport(
  s3rver: S3rverHandle,
  prefix: string,
  data: Array<{ key: string; body: string | Uint8Array }>,
  tables: Array<{ target: string; status: string }>,
): void {
  const files = [
    ...data,
    { key: 'export_info_task-1.json', body: JSON.stringify({ exportTaskIdentifier: 'task-1', status: 'COMPLETE' }) },
    {
      key: 'export_tables_info_task-1_from_1_to_2.json',
      body: JSON.stringify({ perTableStatus: tables.map((t) => ({ ...t, sizeGB: 0 })) }),
    },
  ];
  s3rver.seed(
    SOURCE_BUCKET,
    files.map((f) => ({
      key: `${prefix}/${f.key}`,
      body: f.body,
      contentType: f.key.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    })),
  );
}

/** Writes the export's table status file under `prefix` in the in-memory S3, every table COMPLETE. */
export function seedTablesInfo(memory: MemoryS3Handle, prefix: string, targets: readonly string[]): void {
  memory.store.seed(
    SOURCE_BUCKET,
    [`${prefix}/export_tables_info_task-1_from_1_to_1.json`],
    Buffer.from(
      JSON.stringify({ perTableStatus: targets.map((target) => ({ target, status: 'COMPLETE', sizeGB: 0 })) }),
    ),
    'application/json',
  );
}

/** Every key (with size and ETag) under a prefix of a bucket. */
export async function listAll(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<Array<{ key: string; size: number; etag: string }>> {
  const out: Array<{ key: string; size: number; etag: string }> = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key as string, size: o.Size ?? 0, etag: o.ETag ?? '' });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

/** Counts the commands of a given name a client sends, and can make them fail from the n-th on. */
export function instrument(
  s3: S3Client,
  command: string,
  failFrom?: { call: number; error: () => Error },
): { count: () => number } {
  let n = 0;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command) {
        n++;
        if (failFrom && n >= failFrom.call) throw failFrom.error();
      }
      return next(args);
    },
    { step: 'initialize', name: `count-${command}-${Math.random()}` },
  );
  return { count: () => n };
}
