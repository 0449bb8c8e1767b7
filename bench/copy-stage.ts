/**
 * The copy stage as the benchmark runs it: the real handler with a silent logger, an S3 client for the
 * emulator, and the run table on the local DynamoDB. Used by the main thread and by each worker thread.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SNSEvent } from 'aws-lambda';
import { makeHandler, type CopyHandler } from '../lambdas/copy/handler';
import { CopyBatchStore } from '../lambdas/shared/adapters/copy-batch-store';
import { RunStore, defaultDocumentClient } from '../lambdas/shared/adapters/run-store';
import { createCopyS3Client, createDirectCopy } from '../lambdas/shared/adapters/s3-copy';
import type { PipelineMessage, PipelinePublisher } from '../lambdas/shared/domain/messages';
import { StageFunction } from '../lambdas/shared/domain/run';
import { silentLogger } from '../lambdas/shared/runtime/logger';
import type { RuntimeSettings } from '../lambdas/shared/contracts/settings';
import { DEFAULT_STAGE_DEADLINES } from '../config/schema';

/** Everything a copy-stage instance needs; plain data, so that it can be handed to a worker thread. */
export interface CopyStageSetup {
  readonly s3Endpoint: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly dynamoEndpoint: string;
  readonly settings: RuntimeSettings;
  /** The copy client's socket pool; the client's own default when absent. */
  readonly maxSockets?: number;
  /** How CopyObject is sent: hand-signed as the deployed function sends it, or through the SDK. @default 'direct' */
  readonly copyPath?: 'direct' | 'sdk';
}

/** DynamoDB requests a copy stage made, with the capacity units DynamoDB reported for them. */
export interface DynamoCounters {
  writes: number;
  writeUnits: number;
  reads: number;
  readUnits: number;
}

/** A built copy stage. */
export interface CopyStage {
  readonly handler: CopyHandler;
  readonly store: RunStore;
  readonly batches: CopyBatchStore;
  /** Every DynamoDB request of this stage, counted (each asks for its consumed capacity). */
  readonly dynamo: DynamoCounters;
  destroy(): void;
}

const WRITE_COMMANDS = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);
const READ_COMMANDS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);

/** An SNS event carrying one pipeline message, as the pipeline topic delivers it. */
export const sns = (message: PipelineMessage) =>
  ({
    Records: [
      {
        Sns: {
          Message: JSON.stringify(message),
          MessageAttributes: { target: { Type: 'String', Value: StageFunction.COPY } },
        },
      },
    ],
  }) as unknown as SNSEvent;

/** Settings of the benchmark's deployment: one cluster, bucket to bucket, a prefix per run. */
export function benchSettings(o: {
  readonly tableName: string;
  readonly sourceBucket: string;
  readonly destinationBucket: string;
  readonly concurrency: number;
  readonly batchMaxObjects: number;
}): RuntimeSettings {
  return {
    namePrefix: 'bench',
    tempResourcePrefix: 'bench-tmp-',
    managedByTag: 'bench',
    accountId: '123456789012',
    tableName: o.tableName,
    exportBucket: o.sourceBucket,
    exportPrefix: 'exports',
    exportKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
    exportRoleArn: 'arn:aws:iam::123456789012:role/bench-export',
    pipelineTopicArn: 'arn:aws:sns:us-east-1:123456789012:bench-pipeline',
    alertTopicArns: [],
    notifyOnSuccess: false,
    sourceClusters: [{ identifier: 'shop', exportMode: 'auto', exportOnly: [] }],
    restore: { vpcSecurityGroupIds: [] },
    destination: {
      bucket: o.destinationBucket,
      expectedOwnerAccountId: '210987654321',
      keyPrefixTemplate: 'lake/{cluster}/{dt}/{runId}',
      aclMode: 'none',
    },
    tableFailurePolicy: 'fail',
    copy: { concurrency: o.concurrency, partSizeMiB: 128, batchMaxObjects: o.batchMaxObjects, batchMaxGiB: 50 },
    stageDeadlinesMinutes: DEFAULT_STAGE_DEADLINES,
    orphanGraceMinutes: 240,
    runRetentionDays: 1,
  };
}

/** Builds the copy stage against the emulators. */
export function buildCopyStage(setup: CopyStageSetup, publisher: PipelinePublisher): CopyStage {
  const dynamo = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: setup.dynamoEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const counters: DynamoCounters = { writes: 0, writeUnits: 0, reads: 0, readUnits: 0 };
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '';
      const write = WRITE_COMMANDS.has(name);
      if (!write && !READ_COMMANDS.has(name)) return next(args);
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const out = await next(args);
      const consumed = (out.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] })
        .ConsumedCapacity;
      const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
        (sum, c) => sum + (c.CapacityUnits ?? 0),
        0,
      );
      if (write) {
        counters.writes++;
        counters.writeUnits += units;
      } else {
        counters.reads++;
        counters.readUnits += units;
      }
      return out;
    },
    { step: 'initialize', name: 'countCapacity' },
  );
  const documentClient = defaultDocumentClient(dynamo);
  const cfg = setup.settings;
  const store = new RunStore({
    tableName: cfg.tableName,
    client: documentClient,
    deadlinesMinutes: cfg.stageDeadlinesMinutes,
    retentionDays: 1,
  });
  const batches = new CopyBatchStore({ tableName: cfg.tableName, client: documentClient });
  const s3 = createCopyS3Client({
    region: 'us-east-1',
    endpoint: setup.s3Endpoint,
    forcePathStyle: true,
    credentials: setup.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(setup.maxSockets ? { requestHandler: { httpAgent: { maxSockets: setup.maxSockets } } } : {}),
  });
  const directCopy = setup.copyPath === 'sdk' ? undefined : createDirectCopy(s3);
  const handler = makeHandler({
    settings: cfg,
    store,
    batches,
    s3,
    directCopy,
    publisher,
    logger: silentLogger(),
    principal: async () => 'bench',
  });
  return {
    handler,
    store,
    batches,
    dynamo: counters,
    destroy: () => {
      directCopy?.destroy();
      s3.destroy();
      dynamo.destroy();
    },
  };
}
