/**
 * What a stage function asks of AWS, as IAM sees it: a recorder that notes every SDK command a stage
 * sends while it runs in the simulation, and a mapping from each command to the IAM requests it makes
 * (action, resource ARN, request context), including those AWS services make with the caller's
 * credentials on its behalf (KMS for S3, SNS, SQS and DynamoDB; PassRole and KMS grants for an export).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { StageFunction } from '../../lambdas/shared/domain/run';
import type { RuntimeSettings } from '../../lambdas/shared/contracts/settings';
import type { AuthzRequest, ContextValue } from '../support/iam-eval';

/** One SDK command sent by a stage function. */
export interface RecordedCall {
  readonly stage: StageFunction;
  readonly service: 'rds' | 's3' | 'dynamodb' | 'sns' | 'sqs' | 'logs' | 'xray';
  /** The operation, without the `Command` suffix (`CopyObject`, `Query`...). */
  readonly command: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** The scenario it was recorded in. */
  readonly scenario: string;
}

/** One IAM request a call makes, with the call it comes from. */
export interface MappedRequest extends AuthzRequest {
  readonly stage: StageFunction;
  readonly via: string;
}

interface MiddlewareClient {
  readonly middlewareStack: { add(middleware: unknown, options: Record<string, unknown>): void };
}

/** Notes the SDK commands sent while code runs "as" a stage function (an async context, so concurrency is fine). */
export class CallRecorder {
  readonly calls: RecordedCall[] = [];
  scenario = '';
  private readonly current = new AsyncLocalStorage<StageFunction>();

  /** Runs `fn` as `stage`: every command recorded meanwhile is that stage's. */
  as<T>(stage: StageFunction, fn: () => T): T {
    return this.current.run(stage, fn);
  }

  /** Records a command if a stage is running; calls made by the test harness itself are not a stage's. */
  record(service: RecordedCall['service'], command: string, input: Readonly<Record<string, unknown>>): void {
    const stage = this.current.getStore();
    if (stage)
      this.calls.push({ stage, service, command: command.replace(/Command$/, ''), input, scenario: this.scenario });
  }

  /** Adds a recording middleware to an SDK client (first in the initialize step: it sees the caller's input). */
  attach(client: MiddlewareClient, service: RecordedCall['service']): void {
    client.middlewareStack.add(
      (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input: unknown }) => {
          this.record(service, String(context.commandName), args.input as Record<string, unknown>);
          return next(args);
        },
      { step: 'initialize', priority: 'high', name: `record-${service}-calls` },
    );
  }
}

/** The deployment the requests are made in: account, region, and what our resources are encrypted with. */
export interface RequestScope {
  readonly settings: RuntimeSettings;
  readonly region: string;
}

const list = <T>(v: T | readonly T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? [...(v as T[])] : [v as T];

/**
 * Maps one recorded call to the IAM requests it makes. Throws for a command it does not know, so a new AWS
 * call in a handler fails the coverage test until its permissions are described here.
 */
export function requestsFor(call: RecordedCall, scope: RequestScope): MappedRequest[] {
  const s = scope.settings;
  const account = s.accountId;
  const region = scope.region;
  const via = `${call.service}:${call.command} (${call.scenario})`;
  // Every call: the region the client is configured for, over TLS, from this account.
  const base: Record<string, ContextValue> = {
    'aws:RequestedRegion': region,
    'aws:SecureTransport': true,
    'aws:PrincipalAccount': account,
  };
  const out: MappedRequest[] = [];
  // KMS adds the aliases of the key a request uses (kms:ResourceAliases); the pipeline key has one.
  const keyAliases = (resource: string): Record<string, ContextValue> =>
    resource === s.exportKmsKeyArn ? { 'kms:ResourceAliases': [`alias/${s.namePrefix}`] } : {};
  const add = (action: string, resource: string, context: Record<string, ContextValue> = {}) =>
    out.push({ stage: call.stage, via, action, resource, context: { ...base, ...keyAliases(resource), ...context } });
  const input = call.input as Record<string, any>;

  /** KMS used by another service with the caller's credentials (forward access): kms:ViaService names that service. */
  const kmsVia = (service: string, action: string, keyArn: string | undefined) => {
    if (keyArn)
      add(action, keyArn, { 'kms:ViaService': `${service}.${region}.amazonaws.com`, 'kms:CallerAccount': account });
  };

  switch (call.service) {
    case 'rds': {
      const rds = (type: string, id: string) =>
        id.startsWith('arn:') ? id : `arn:aws:rds:${region}:${account}:${type}:${id.toLowerCase()}`;
      switch (call.command) {
        case 'DescribeDBClusters':
          // Without an identifier the call lists every cluster: only a grant on `cluster:*` covers it.
          add(
            'rds:DescribeDBClusters',
            input.DBClusterIdentifier ? rds('cluster', input.DBClusterIdentifier) : rds('cluster', '*'),
          );
          break;
        case 'DescribeDBClusterSnapshots':
          if (input.DBClusterSnapshotIdentifier)
            add('rds:DescribeDBClusterSnapshots', rds('cluster-snapshot', input.DBClusterSnapshotIdentifier));
          else if (input.DBClusterIdentifier)
            add('rds:DescribeDBClusterSnapshots', rds('cluster', input.DBClusterIdentifier));
          else add('rds:DescribeDBClusterSnapshots', rds('cluster-snapshot', '*'));
          break;
        case 'DescribeExportTasks':
        case 'CancelExportTask':
          // CancelExportTask has no resource type in the Service Authorization Reference; DescribeExportTasks by
          // task identifier names no cluster or snapshot. Either way "*" is what IAM evaluates.
          add(`rds:${call.command}`, '*');
          break;
        case 'StartExportTask':
          add('rds:StartExportTask', rds('cluster-snapshot', input.SourceArn));
          // The export role is passed in a call to RDS; the task runs as export.rds.amazonaws.com. Which of the
          // two RDS reports as iam:PassedToService is not documented, so both must be allowed.
          for (const service of ['rds.amazonaws.com', 'export.rds.amazonaws.com'])
            add('iam:PassRole', input.IamRoleArn, { 'iam:PassedToService': service });
          // RDS describes the key and creates a grant on it for the export with the caller's permissions.
          for (const action of ['kms:DescribeKey', 'kms:CreateGrant']) {
            add(action, input.KmsKeyId, {
              'kms:ViaService': `rds.${region}.amazonaws.com`,
              'kms:CallerAccount': account,
              'kms:GrantIsForAWSResource': true,
            });
          }
          break;
        case 'RestoreDBClusterFromSnapshot': {
          const action = 'rds:RestoreDBClusterFromSnapshot';
          add(action, rds('cluster', input.DBClusterIdentifier));
          add(action, rds('cluster-snapshot', input.SnapshotIdentifier));
          if (input.DBSubnetGroupName) add(action, rds('subgrp', input.DBSubnetGroupName));
          if (input.DBClusterParameterGroupName) add(action, rds('cluster-pg', input.DBClusterParameterGroupName));
          if (input.OptionGroupName) add(action, rds('og', input.OptionGroupName));
          // Tags given on create are authorized as rds:AddTagsToResource on the new resource.
          if (list(input.Tags).length > 0) add('rds:AddTagsToResource', rds('cluster', input.DBClusterIdentifier));
          break;
        }
        case 'CreateDBClusterSnapshot':
          add('rds:CreateDBClusterSnapshot', rds('cluster', input.DBClusterIdentifier));
          add('rds:CreateDBClusterSnapshot', rds('cluster-snapshot', input.DBClusterSnapshotIdentifier));
          if (list(input.Tags).length > 0)
            add('rds:AddTagsToResource', rds('cluster-snapshot', input.DBClusterSnapshotIdentifier));
          break;
        case 'DeleteDBCluster':
          add('rds:DeleteDBCluster', rds('cluster', input.DBClusterIdentifier));
          if (!input.SkipFinalSnapshot) {
            add('rds:DeleteDBCluster', rds('cluster-snapshot', String(input.FinalDBSnapshotIdentifier)));
            add('rds:CreateDBClusterSnapshot', rds('cluster-snapshot', String(input.FinalDBSnapshotIdentifier)));
          }
          break;
        case 'DeleteDBClusterSnapshot':
          add('rds:DeleteDBClusterSnapshot', rds('cluster-snapshot', input.DBClusterSnapshotIdentifier));
          break;
        case 'AddTagsToResource':
        case 'ListTagsForResource':
          add(`rds:${call.command}`, input.ResourceName);
          break;
        default:
          throw new Error(`no IAM mapping for RDS ${call.command}`);
      }
      break;
    }
    case 's3': {
      const destination = s.destination.accessPointArn ?? (s.destination.bucket as string);
      const bucketArn = (b: string) => (b.startsWith('arn:') ? b : `arn:aws:s3:::${b}`);
      const objectArn = (b: string, k: string) =>
        b.startsWith('arn:') ? `${b}/object/${k}` : `arn:aws:s3:::${b}/${k}`;
      // s3:ResourceAccount is the owner of the bucket (or access point) named in the request: every call
      // sends it as ExpectedBucketOwner, so a call that succeeds was made on a resource of that account.
      const owner = (b: string): Record<string, ContextValue> =>
        b === destination
          ? { 's3:ResourceAccount': s.destination.expectedOwnerAccountId }
          : b === s.exportBucket
            ? { 's3:ResourceAccount': account }
            : {};
      // Objects under the export prefix are written by the export with the pipeline key (and the bucket's
      // default encryption is that key); at the destination, with the client's key when one is configured.
      const readKey = (b: string) => (b === s.exportBucket ? s.exportKmsKeyArn : undefined);
      const writeKey = (b: string, requested?: string) =>
        requested ?? (b === destination ? s.destination.kmsKeyArn : undefined);
      const write = (b: string, k: string) => {
        add('s3:PutObject', objectArn(b, k), owner(b));
        if (input.ACL) add('s3:PutObjectAcl', objectArn(b, k), owner(b));
      };
      const copySource = () => {
        const decoded = decodeURIComponent(String(input.CopySource).replace(/^\//, ''));
        const slash = decoded.indexOf('/');
        return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
      };
      const b = String(input.Bucket);
      const k = String(input.Key);
      switch (call.command) {
        case 'ListObjectsV2':
          add('s3:ListBucket', bucketArn(b), {
            ...owner(b),
            ...(input.Prefix !== undefined ? { 's3:prefix': String(input.Prefix) } : {}),
          });
          break;
        case 'GetObject':
          add('s3:GetObject', objectArn(b, k), owner(b));
          kmsVia('s3', 'kms:Decrypt', readKey(b));
          break;
        case 'HeadObject':
          add('s3:GetObject', objectArn(b, k), owner(b));
          break;
        case 'PutObject':
          write(b, k);
          kmsVia('s3', 'kms:GenerateDataKey', writeKey(b, input.SSEKMSKeyId));
          break;
        case 'CopyObject': {
          const src = copySource();
          add('s3:GetObject', objectArn(src.bucket, src.key), owner(src.bucket));
          kmsVia('s3', 'kms:Decrypt', readKey(src.bucket));
          write(b, k);
          kmsVia('s3', 'kms:GenerateDataKey', writeKey(b, input.SSEKMSKeyId));
          break;
        }
        case 'CreateMultipartUpload':
          write(b, k);
          kmsVia('s3', 'kms:GenerateDataKey', writeKey(b, input.SSEKMSKeyId));
          break;
        // A multipart upload under SSE-KMS needs kms:GenerateDataKey for the parts and kms:Decrypt to
        // assemble them; both are asked of every part and of the completion.
        case 'UploadPart':
          add('s3:PutObject', objectArn(b, k), owner(b));
          kmsVia('s3', 'kms:GenerateDataKey', writeKey(b));
          kmsVia('s3', 'kms:Decrypt', writeKey(b));
          break;
        case 'UploadPartCopy': {
          const src = copySource();
          add('s3:GetObject', objectArn(src.bucket, src.key), owner(src.bucket));
          kmsVia('s3', 'kms:Decrypt', readKey(src.bucket));
          add('s3:PutObject', objectArn(b, k), owner(b));
          kmsVia('s3', 'kms:GenerateDataKey', writeKey(b));
          kmsVia('s3', 'kms:Decrypt', writeKey(b));
          break;
        }
        case 'CompleteMultipartUpload':
          add('s3:PutObject', objectArn(b, k), owner(b));
          kmsVia('s3', 'kms:Decrypt', writeKey(b));
          break;
        case 'AbortMultipartUpload':
          add('s3:AbortMultipartUpload', objectArn(b, k), owner(b));
          break;
        case 'ListParts':
          add('s3:ListMultipartUploadParts', objectArn(b, k), owner(b));
          break;
        default:
          throw new Error(`no IAM mapping for S3 ${call.command}`);
      }
      break;
    }
    case 'dynamodb': {
      const table = (name: string) => `arn:aws:dynamodb:${region}:${account}:table/${name}`;
      const item = (action: string, name: string) => {
        add(`dynamodb:${action}`, table(name));
        // The run table is encrypted with the pipeline key: DynamoDB decrypts the table key with the
        // caller's credentials (cached per principal for minutes), so the caller needs kms:Decrypt.
        kmsVia('dynamodb', 'kms:Decrypt', name === s.tableName ? s.exportKmsKeyArn : undefined);
      };
      const ITEM: Record<string, string> = {
        Get: 'GetItem',
        GetItem: 'GetItem',
        Put: 'PutItem',
        PutItem: 'PutItem',
        Update: 'UpdateItem',
        UpdateItem: 'UpdateItem',
        Delete: 'DeleteItem',
        DeleteItem: 'DeleteItem',
        Scan: 'Scan',
        ConditionCheck: 'ConditionCheckItem',
      };
      if (ITEM[call.command]) item(ITEM[call.command], input.TableName);
      else if (call.command === 'Query') {
        add(
          'dynamodb:Query',
          input.IndexName ? `${table(input.TableName)}/index/${input.IndexName}` : table(input.TableName),
        );
        kmsVia('dynamodb', 'kms:Decrypt', input.TableName === s.tableName ? s.exportKmsKeyArn : undefined);
      } else if (['BatchGet', 'BatchGetItem', 'BatchWrite', 'BatchWriteItem'].includes(call.command)) {
        for (const name of Object.keys(input.RequestItems ?? {}))
          item(call.command.startsWith('BatchGet') ? 'BatchGetItem' : 'BatchWriteItem', name);
      } else if (['TransactWrite', 'TransactWriteItems', 'TransactGet', 'TransactGetItems'].includes(call.command)) {
        for (const t of list<Record<string, { TableName: string }>>(input.TransactItems)) {
          for (const [kind, op] of Object.entries(t)) item(ITEM[kind] ?? kind, op.TableName);
        }
      } else throw new Error(`no IAM mapping for DynamoDB ${call.command}`);
      break;
    }
    case 'sns':
      if (call.command !== 'Publish') throw new Error(`no IAM mapping for SNS ${call.command}`);
      add('sns:Publish', input.TopicArn);
      // Our topics are encrypted with the pipeline key: SNS generates and decrypts data keys for the publisher.
      if ([s.pipelineTopicArn, s.alertTopicArns[0]].includes(input.TopicArn)) {
        kmsVia('sns', 'kms:GenerateDataKey', s.exportKmsKeyArn);
        kmsVia('sns', 'kms:Decrypt', s.exportKmsKeyArn);
      }
      break;
    case 'sqs':
      if (call.command !== 'SendMessage') throw new Error(`no IAM mapping for SQS ${call.command}`);
      add('sqs:SendMessage', input.QueueArn);
      kmsVia('sqs', 'kms:GenerateDataKey', s.exportKmsKeyArn);
      kmsVia('sqs', 'kms:Decrypt', s.exportKmsKeyArn);
      break;
    case 'logs':
      if (!['CreateLogStream', 'PutLogEvents'].includes(call.command))
        throw new Error(`no IAM mapping for CloudWatch Logs ${call.command}`);
      add(
        `logs:${call.command}`,
        `arn:aws:logs:${region}:${account}:log-group:${input.logGroupName}:log-stream:${input.logStreamName}`,
      );
      break;
    case 'xray':
      if (!['PutTraceSegments', 'PutTelemetryRecords'].includes(call.command))
        throw new Error(`no IAM mapping for X-Ray ${call.command}`);
      // No resource type in the Service Authorization Reference: IAM evaluates "*".
      add(`xray:${call.command}`, '*');
      break;
    default:
      throw new Error(`no IAM mapping for service ${String(call.service)}`);
  }
  return out;
}
