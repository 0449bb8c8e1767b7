/**
 * A stateful fake of the RDS control plane behind a mocked RDSClient (aws-sdk-client-mock). It keeps
 * clusters, cluster snapshots and export tasks, moves them along on `tick()`, writes export output to an
 * S3 emulator, and emits the SNS-shaped RDS events a real event subscription would. Faults are injected
 * per command: permanent errors, throttling, asynchronous failures.
 */
import { mockClient } from 'aws-sdk-client-mock';
import {
  CancelExportTaskCommand,
  CreateDBClusterSnapshotCommand,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeExportTasksCommand,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  StartExportTaskCommand,
  AddTagsToResourceCommand,
  ListTagsForResourceCommand,
  type DBCluster,
  type DBClusterSnapshot,
  type ExportTask,
  type Tag,
} from '@aws-sdk/client-rds';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SNSEventRecord } from 'aws-lambda';
import { checkRdsRequest, type ModelViolation } from './rds-model';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
/** The VPC security group of every source cluster the fake creates (its subnet group is `<cluster>-db-subnets`). */
export const SOURCE_SECURITY_GROUP = 'sg-0fedcba9876543210';

/** An error shaped like the SDK's service exceptions. */
export function awsError(name: string, message: string, fault: 'client' | 'server' = 'client'): Error {
  const e = new Error(message) as Error & { $fault: string; $metadata: object };
  e.name = name;
  e.$fault = fault;
  e.$metadata = { httpStatusCode: fault === 'client' ? 400 : 500 };
  return e;
}

/** One table of a simulated export. */
export interface FakeTable {
  readonly db: string;
  readonly table: string;
  readonly files: number;
  /** @default 'COMPLETE' */
  readonly status?: string;
}

/** What clusters and cluster snapshots have in common. */
interface ResourceState {
  id: string;
  arn: string;
  status: string;
  engine: string;
  engineVersion: string;
  engineMode: string;
  created: Date;
  tags: Tag[];
  /** Ticks left in the current transitional status. */
  wait: number;
}

interface ClusterState extends ResourceState {
  restoredFrom?: string;
  subnetGroup?: string;
  securityGroups?: string[];
  deletionProtection?: boolean;
  publiclyAccessible?: boolean;
}

interface SnapshotState extends ResourceState {
  clusterId: string;
  type: 'automated' | 'manual';
  failOnCompletion?: boolean;
}

interface TaskState {
  id: string;
  sourceArn: string;
  sourceId: string;
  bucket: string;
  prefix: string;
  status: string;
  wait: number;
  failureCause?: string;
  fail?: boolean;
}

/** What the fake records about the calls made to it. */
export interface CallRecord {
  readonly command: string;
  readonly input: Record<string, unknown>;
  /** `ok`, or the error name it answered with. */
  readonly result: string;
}

/** Options of the fake control plane. */
export interface FakeRdsOptions {
  /** S3 client writing export output (the export bucket must exist). */
  readonly s3: S3Client;
  /** Current time. */
  readonly now: () => Date;
  /** Tables every export writes. */
  readonly tables?: readonly FakeTable[];
  /** Concurrent export tasks allowed. @default 5 */
  readonly exportSlots?: number;
  /** Ticks a restore, snapshot, export or delete takes. @default 1 */
  readonly ticksPerStep?: number;
  /**
   * Whether the account has a default VPC, where RDS puts a cluster restored without a DB subnet group.
   * @default false: accounts in a managed organisation usually have none, so a restore must name its subnet group
   */
  readonly defaultVpc?: boolean;
}

/** The fake RDS control plane. */
export class FakeRds {
  readonly clusters = new Map<string, ClusterState>();
  readonly snapshots = new Map<string, SnapshotState>();
  readonly tasks = new Map<string, TaskState>();
  readonly calls: CallRecord[] = [];
  /**
   * Requests that broke a rule of the RDS model documentation (see ./rds-model); each was answered with
   * InvalidParameterCombination, so a pipeline that sends one cannot succeed in a test either.
   */
  readonly modelViolations: ModelViolation[] = [];
  /** RDS events emitted and not yet taken by {@link drainEvents}. */
  private outbox: SNSEventRecord[] = [];
  private readonly failures = new Map<string, Error[]>();
  private readonly throttled = new Set<string>();
  private throttleEveryCommandOnce = false;
  private readonly tables: readonly FakeTable[];
  private readonly slots: number;
  private readonly ticks: number;
  private stub?: { restore(): void };
  private eventCounter = 0;

  constructor(private readonly options: FakeRdsOptions) {
    this.tables = options.tables ?? [
      { db: 'orders', table: 'public.orders', files: 3 },
      { db: 'orders', table: 'public.customers', files: 2 },
    ];
    this.slots = options.exportSlots ?? 5;
    this.ticks = options.ticksPerStep ?? 1;
  }

  /** Routes every RDS command of every RDSClient to this fake. Call {@link restore} afterwards. */
  install(): this {
    const stub = mockClient(RDSClient);
    const on = <I extends object>(cmd: { name: string } & (new (input: I) => unknown), fn: (input: I) => unknown) =>
      stub
        .on(cmd as never)
        .callsFake(async (input: I) =>
          this.call(cmd.name.replace(/Command$/, ''), input as Record<string, unknown>, () => fn(input)),
        );
    on(DescribeDBClustersCommand, (i) => this.describeClusters(i));
    on(DescribeDBClusterSnapshotsCommand, (i) => this.describeSnapshots(i));
    on(DescribeExportTasksCommand, (i) => this.describeTasks(i));
    on(RestoreDBClusterFromSnapshotCommand, (i) => this.restoreCluster(i));
    on(CreateDBClusterSnapshotCommand, (i) => this.createSnapshot(i));
    on(DeleteDBClusterCommand, (i) => this.deleteCluster(i));
    on(DeleteDBClusterSnapshotCommand, (i) => this.deleteSnapshot(i));
    on(StartExportTaskCommand, (i) => this.startExport(i));
    on(CancelExportTaskCommand, (i) => this.cancelExport(i));
    on(AddTagsToResourceCommand, () => ({}));
    on(ListTagsForResourceCommand, (i) => this.listTags(i));
    this.stub = stub;
    return this;
  }

  /** Gives RDSClient its real behaviour back. */
  restore(): void {
    this.stub?.restore();
  }

  // ---- scenario set-up ---------------------------------------------------------------------------

  /** Adds a source cluster and an available automated snapshot of it; returns the snapshot. */
  addSourceSnapshot(
    clusterId: string,
    engineMode: 'provisioned' | 'serverless',
    at: Date = this.options.now(),
  ): { id: string; arn: string } {
    if (!this.clusters.has(clusterId)) {
      this.clusters.set(clusterId, {
        id: clusterId,
        arn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:${clusterId}`,
        status: 'available',
        engine: 'aurora-postgresql',
        engineVersion: engineMode === 'serverless' ? '11.21' : '15.4',
        engineMode,
        created: new Date(at.getTime() - 86_400_000),
        tags: [],
        wait: 0,
        subnetGroup: `${clusterId}-db-subnets`,
        securityGroups: [SOURCE_SECURITY_GROUP],
      });
    }
    const stamp = at.toISOString().slice(0, 16).replace(/[T:]/g, '-');
    const id = `rds:${clusterId}-${stamp}`;
    const arn = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${id}`;
    this.snapshots.set(id, {
      id,
      arn,
      clusterId,
      status: 'available',
      type: 'automated',
      engine: 'aurora-postgresql',
      engineVersion: this.clusters.get(clusterId)?.engineVersion ?? '15.4',
      engineMode,
      created: at,
      tags: [],
      wait: 0,
    });
    return { id, arn };
  }

  /** Emits RDS-EVENT-0169 for an automated snapshot, as RDS does when it finishes one. */
  emitSnapshotCreated(snapshotId: string): void {
    const s = this.snapshots.get(snapshotId);
    if (!s) throw new Error(`no snapshot ${snapshotId}`);
    this.emit('db-cluster-snapshot', s.id, s.arn, '0169', 'Automated cluster snapshot created');
  }

  /** Makes the next `times` calls of `command` fail with `error`. */
  failNext(command: string, error: Error, times = 1): void {
    this.failures.set(command, [...(this.failures.get(command) ?? []), ...Array.from({ length: times }, () => error)]);
  }

  /** Answers the first call of every command with a throttling error. */
  throttleEachCommandOnce(): void {
    this.throttleEveryCommandOnce = true;
  }

  /** Makes the next manual snapshot end in status `failed`. */
  failNextSnapshotAsync(): void {
    this.failNextSnapshot = true;
  }
  private failNextSnapshot = false;

  /** Makes the next export task end FAILED (RDS-EVENT-0162). */
  failNextExportAsync(cause = 'The export failed: S3 write error'): void {
    this.failNextExport = cause;
  }
  private failNextExport?: string;

  /** Occupies export slots with tasks of someone else, finished after `ticks` ticks. */
  occupyExportSlots(count: number, ticks: number): void {
    for (let i = 0; i < count; i++) {
      const id = `other-export-${i}`;
      this.tasks.set(id, {
        id,
        sourceArn: 'arn:aws:rds:other',
        sourceId: 'other',
        bucket: 'other',
        prefix: 'other',
        status: 'IN_PROGRESS',
        wait: ticks,
      });
    }
  }

  // ---- observing ---------------------------------------------------------------------------------

  /** Takes the RDS events emitted so far, as SNS records. */
  drainEvents(): SNSEventRecord[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** Successful calls of a command. */
  successfulCalls(command: string): CallRecord[] {
    return this.calls.filter((c) => c.command === command && c.result === 'ok');
  }

  /** Temporary clusters and snapshots that still exist (any status but gone), by id. */
  leftovers(prefix: string): string[] {
    return [
      ...[...this.clusters.values()].filter((c) => c.id.startsWith(prefix)).map((c) => `cluster:${c.id}:${c.status}`),
      ...[...this.snapshots.values()]
        .filter((s) => s.id.startsWith(prefix))
        .map((s) => `cluster-snapshot:${s.id}:${s.status}`),
    ];
  }

  /** Export tasks still running. */
  runningExports(): string[] {
    return [...this.tasks.values()]
      .filter((t) => ['STARTING', 'IN_PROGRESS', 'CANCELING'].includes(t.status))
      .map((t) => t.id);
  }

  // ---- time --------------------------------------------------------------------------------------

  /** Moves every resource one step along and emits the events that go with it. */
  async tick(): Promise<void> {
    for (const c of [...this.clusters.values()]) {
      if (c.wait > 0 && --c.wait > 0) continue;
      if (c.status === 'creating') {
        c.status = 'available';
        this.emit('db-cluster', c.id, c.arn, '0170', 'DB cluster created');
      } else if (c.status === 'deleting') {
        this.clusters.delete(c.id);
      }
    }
    for (const s of [...this.snapshots.values()]) {
      if (s.wait > 0 && --s.wait > 0) continue;
      if (s.status === 'creating') {
        if (s.failOnCompletion) {
          s.status = 'failed';
          continue;
        }
        s.status = 'available';
        if (s.type === 'manual')
          this.emit('db-cluster-snapshot', s.id, s.arn, '0075', 'Manual cluster snapshot created');
      } else if (s.status === 'deleting') {
        this.snapshots.delete(s.id);
      }
    }
    for (const t of [...this.tasks.values()]) {
      if (t.wait > 0 && --t.wait > 0) continue;
      if (t.status === 'STARTING') {
        t.status = 'IN_PROGRESS';
        t.wait = this.ticks;
      } else if (t.status === 'IN_PROGRESS') {
        if (t.bucket === 'other') {
          t.status = 'COMPLETE';
          continue;
        }
        if (t.fail) {
          t.status = 'FAILED';
          t.failureCause = t.failureCause ?? 'export failed';
          this.emit(
            'db-cluster-snapshot',
            t.sourceId,
            t.sourceArn,
            '0162',
            `Snapshot export task failed: ${t.failureCause}`,
          );
        } else {
          await this.writeExport(t);
          t.status = 'COMPLETE';
          this.emit('db-cluster-snapshot', t.sourceId, t.sourceArn, '0164', 'Snapshot export task completed');
        }
      } else if (t.status === 'CANCELING') {
        t.status = 'CANCELED';
        this.emit('db-cluster-snapshot', t.sourceId, t.sourceArn, '0163', 'Snapshot export task canceled');
      }
    }
  }

  // ---- the API -----------------------------------------------------------------------------------

  private async call(command: string, input: Record<string, unknown>, fn: () => unknown): Promise<unknown> {
    const queued = this.failures.get(command);
    let error: Error | undefined;
    const violations = checkRdsRequest(command, input);
    if (violations.length > 0) {
      this.modelViolations.push(...violations);
      error = awsError(
        'InvalidParameterCombination',
        `request outside the RDS model: ${violations.map((v) => `${v.member}: ${v.rule}`).join('; ')}`,
      );
    } else if (queued?.length) error = queued.shift();
    else if (this.throttleEveryCommandOnce && !this.throttled.has(command)) {
      this.throttled.add(command);
      error = awsError('ThrottlingException', 'Rate exceeded');
      (error as unknown as { $retryable: object }).$retryable = { throttling: true };
    }
    if (error) {
      this.calls.push({ command, input, result: error.name });
      throw error;
    }
    try {
      const out = await fn();
      this.calls.push({ command, input, result: 'ok' });
      return out;
    } catch (e) {
      this.calls.push({ command, input, result: (e as Error).name });
      throw e;
    }
  }

  private emit(source: string, id: string, arn: string, code: string, message: string): void {
    const t = this.options.now().toISOString().replace('T', ' ').replace('Z', '');
    this.outbox.push({
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: `arn:aws:sns:${REGION}:${ACCOUNT}:rds-events:sub`,
      Sns: {
        Type: 'Notification',
        MessageId: `rds-${++this.eventCounter}`,
        TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:rds-events`,
        Subject: '',
        Message: JSON.stringify({
          'Event Source': source,
          'Event Time': t,
          'Identifier Link': `https://console.aws.amazon.com/rds/home?region=${REGION}#dbclusters:id=${id}`,
          'Source ID': id,
          'Source ARN': arn,
          'Event ID': `http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#RDS-EVENT-${code}`,
          'Event Message': message,
        }),
        Timestamp: this.options.now().toISOString(),
        SignatureVersion: '1',
        Signature: 'x',
        SigningCertUrl: 'https://example.com/cert.pem',
        UnsubscribeUrl: 'https://example.com/unsubscribe',
        MessageAttributes: {},
      },
    });
  }

  private clusterView(c: ClusterState): DBCluster {
    return {
      DBClusterIdentifier: c.id,
      DBClusterArn: c.arn,
      Status: c.status,
      Engine: c.engine,
      EngineVersion: c.engineVersion,
      EngineMode: c.engineMode,
      ClusterCreateTime: c.created,
      TagList: c.tags,
      DeletionProtection: c.deletionProtection ?? false,
      PubliclyAccessible: c.publiclyAccessible ?? false,
      DBClusterMembers: [],
      ...(c.subnetGroup ? { DBSubnetGroup: c.subnetGroup } : {}),
      VpcSecurityGroups: (c.securityGroups ?? []).map((id) => ({ VpcSecurityGroupId: id, Status: 'active' })),
    };
  }

  private snapshotView(s: SnapshotState): DBClusterSnapshot {
    return {
      DBClusterSnapshotIdentifier: s.id,
      DBClusterSnapshotArn: s.arn,
      DBClusterIdentifier: s.clusterId,
      Status: s.status,
      SnapshotType: s.type,
      Engine: s.engine,
      EngineVersion: s.engineVersion,
      EngineMode: s.engineMode,
      SnapshotCreateTime: s.created,
      TagList: s.tags,
    };
  }

  private describeClusters(i: { DBClusterIdentifier?: string }): { DBClusters: DBCluster[] } {
    if (i.DBClusterIdentifier) {
      const c = this.clusters.get(i.DBClusterIdentifier);
      if (!c) throw awsError('DBClusterNotFoundFault', `DBCluster ${i.DBClusterIdentifier} not found.`);
      return { DBClusters: [this.clusterView(c)] };
    }
    return { DBClusters: [...this.clusters.values()].map((c) => this.clusterView(c)) };
  }

  private findSnapshot(idOrArn: string): SnapshotState | undefined {
    return this.snapshots.get(idOrArn) ?? [...this.snapshots.values()].find((s) => s.arn === idOrArn);
  }

  private describeSnapshots(i: {
    DBClusterSnapshotIdentifier?: string;
    DBClusterIdentifier?: string;
    SnapshotType?: string;
  }): { DBClusterSnapshots: DBClusterSnapshot[] } {
    if (i.DBClusterSnapshotIdentifier) {
      const s = this.findSnapshot(i.DBClusterSnapshotIdentifier);
      if (!s)
        throw awsError(
          'DBClusterSnapshotNotFoundFault',
          `DBClusterSnapshot ${i.DBClusterSnapshotIdentifier} not found.`,
        );
      return { DBClusterSnapshots: [this.snapshotView(s)] };
    }
    return {
      DBClusterSnapshots: [...this.snapshots.values()]
        .filter(
          (s) =>
            (!i.DBClusterIdentifier || s.clusterId === i.DBClusterIdentifier) &&
            (!i.SnapshotType || s.type === i.SnapshotType),
        )
        .map((s) => this.snapshotView(s)),
    };
  }

  private taskView(t: TaskState): ExportTask {
    return {
      ExportTaskIdentifier: t.id,
      SourceArn: t.sourceArn,
      S3Bucket: t.bucket,
      S3Prefix: t.prefix,
      Status: t.status,
      ...(t.failureCause ? { FailureCause: t.failureCause } : {}),
    };
  }

  private describeTasks(i: { ExportTaskIdentifier?: string }): { ExportTasks: ExportTask[] } {
    if (i.ExportTaskIdentifier) {
      const t = this.tasks.get(i.ExportTaskIdentifier);
      if (!t)
        throw awsError('ExportTaskNotFoundFault', `Cannot find export task with identifier ${i.ExportTaskIdentifier}.`);
      return { ExportTasks: [this.taskView(t)] };
    }
    return { ExportTasks: [...this.tasks.values()].map((t) => this.taskView(t)) };
  }

  private restoreCluster(i: {
    DBClusterIdentifier?: string;
    SnapshotIdentifier?: string;
    EngineMode?: string;
    Engine?: string;
    EngineVersion?: string;
    Tags?: Tag[];
    DeletionProtection?: boolean;
    PubliclyAccessible?: boolean;
    DBSubnetGroupName?: string;
    VpcSecurityGroupIds?: string[];
  }): object {
    const id = i.DBClusterIdentifier as string;
    if (!/^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/.test(id) || id.length > 63 || id.endsWith('-'))
      throw awsError('InvalidParameterValue', `invalid cluster identifier ${id}`);
    if (this.clusters.has(id)) throw awsError('DBClusterAlreadyExistsFault', 'DB Cluster already exists');
    const s = this.findSnapshot(i.SnapshotIdentifier as string);
    if (!s) throw awsError('DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${i.SnapshotIdentifier} not found.`);
    if (!i.DBSubnetGroupName && !this.options.defaultVpc)
      throw awsError('DBSubnetGroupNotFoundFault', 'No DB subnet group was named and the account has no default VPC.');
    this.clusters.set(id, {
      id,
      arn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:${id}`,
      status: 'creating',
      engine: i.Engine ?? s.engine,
      engineVersion: i.EngineVersion ?? s.engineVersion,
      engineMode: i.EngineMode ?? 'provisioned',
      created: this.options.now(),
      tags: i.Tags ?? [],
      wait: this.ticks,
      restoredFrom: s.id,
      deletionProtection: i.DeletionProtection,
      publiclyAccessible: i.PubliclyAccessible,
      subnetGroup: i.DBSubnetGroupName ?? 'default',
      securityGroups: i.VpcSecurityGroupIds ?? ['sg-default'],
    });
    return { DBCluster: this.clusterView(this.clusters.get(id) as ClusterState) };
  }

  private createSnapshot(i: {
    DBClusterSnapshotIdentifier?: string;
    DBClusterIdentifier?: string;
    Tags?: Tag[];
  }): object {
    const id = i.DBClusterSnapshotIdentifier as string;
    if (this.snapshots.has(id))
      throw awsError(
        'DBClusterSnapshotAlreadyExistsFault',
        'Cannot create the cluster snapshot because one with the identifier you specified already exists.',
      );
    const c = this.clusters.get(i.DBClusterIdentifier as string);
    if (!c) throw awsError('DBClusterNotFoundFault', `DBCluster ${i.DBClusterIdentifier} not found.`);
    if (c.status !== 'available')
      throw awsError('InvalidDBClusterStateFault', `DBCluster ${c.id} is not in available state.`);
    this.snapshots.set(id, {
      id,
      arn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster-snapshot:${id}`,
      clusterId: c.id,
      status: 'creating',
      type: 'manual',
      engine: c.engine,
      engineVersion: c.engineVersion,
      engineMode: c.engineMode,
      created: this.options.now(),
      tags: i.Tags ?? [],
      wait: this.ticks,
      failOnCompletion: this.failNextSnapshot,
    });
    this.failNextSnapshot = false;
    return { DBClusterSnapshot: this.snapshotView(this.snapshots.get(id) as SnapshotState) };
  }

  private deleteCluster(i: { DBClusterIdentifier?: string; SkipFinalSnapshot?: boolean }): object {
    const c = this.clusters.get(i.DBClusterIdentifier as string);
    if (!c) throw awsError('DBClusterNotFoundFault', `DBCluster ${i.DBClusterIdentifier} not found.`);
    if (!i.SkipFinalSnapshot)
      throw awsError(
        'InvalidParameterCombination',
        'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is set',
      );
    if (c.status !== 'available') throw awsError('InvalidDBClusterStateFault', `DBCluster ${c.id} is ${c.status}.`);
    c.status = 'deleting';
    c.wait = this.ticks;
    return { DBCluster: this.clusterView(c) };
  }

  private deleteSnapshot(i: { DBClusterSnapshotIdentifier?: string }): object {
    const s = this.snapshots.get(i.DBClusterSnapshotIdentifier as string);
    if (!s || s.status === 'deleting')
      throw awsError('DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${i.DBClusterSnapshotIdentifier} not found.`);
    if (s.status === 'creating')
      throw awsError('InvalidDBClusterSnapshotStateFault', `DBClusterSnapshot ${s.id} is creating.`);
    if (s.type === 'automated')
      throw awsError('InvalidDBClusterSnapshotStateFault', 'automated snapshots cannot be deleted');
    s.status = 'deleting';
    s.wait = this.ticks;
    return { DBClusterSnapshot: this.snapshotView(s) };
  }

  private startExport(i: {
    ExportTaskIdentifier?: string;
    SourceArn?: string;
    S3BucketName?: string;
    S3Prefix?: string;
    IamRoleArn?: string;
    KmsKeyId?: string;
  }): object {
    const id = i.ExportTaskIdentifier as string;
    if (!/^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*$/.test(id) || id.length > 60 || id.endsWith('-'))
      throw awsError('InvalidParameterValue', `invalid export task identifier ${id}`);
    if (this.tasks.has(id))
      throw awsError(
        'ExportTaskAlreadyExistsFault',
        `Cannot start export task because a task with the identifier ${id} already exists.`,
      );
    const s = this.findSnapshot(i.SourceArn as string);
    if (!s) throw awsError('DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${i.SourceArn} not found.`);
    if (s.status !== 'available') throw awsError('InvalidExportSourceStateFault', `snapshot ${s.id} is ${s.status}`);
    if (s.engineMode === 'serverless')
      throw awsError('InvalidParameterValue', 'Export of Aurora Serverless v1 snapshots is not supported.');
    if (!i.IamRoleArn || !i.KmsKeyId || !i.S3BucketName)
      throw awsError('InvalidParameterValue', 'IamRoleArn, KmsKeyId and S3BucketName are required');
    if (this.runningExports().length >= this.slots) {
      throw awsError(
        'ExportTaskLimitReachedFault',
        `You have reached the limit of ${this.slots} concurrent export tasks. Wait for an export task to finish.`,
      );
    }
    const task: TaskState = {
      id,
      sourceArn: s.arn,
      sourceId: s.id,
      bucket: i.S3BucketName,
      prefix: i.S3Prefix ?? '',
      status: 'STARTING',
      wait: this.ticks,
    };
    if (this.failNextExport) {
      task.fail = true;
      task.failureCause = this.failNextExport;
      this.failNextExport = undefined;
    }
    this.tasks.set(id, task);
    return this.taskView(task);
  }

  private cancelExport(i: { ExportTaskIdentifier?: string }): object {
    const t = this.tasks.get(i.ExportTaskIdentifier as string);
    if (!t) throw awsError('ExportTaskNotFoundFault', 'not found');
    if (!['STARTING', 'IN_PROGRESS'].includes(t.status))
      throw awsError('InvalidExportTaskStateFault', `task is ${t.status}`);
    t.status = 'CANCELING';
    t.wait = this.ticks;
    return this.taskView(t);
  }

  private listTags(i: { ResourceName?: string }): { TagList: Tag[] } {
    const c = [...this.clusters.values()].find((x) => x.arn === i.ResourceName);
    const s = [...this.snapshots.values()].find((x) => x.arn === i.ResourceName);
    return { TagList: c?.tags ?? s?.tags ?? [] };
  }

  /** Writes what a real export writes under `<S3Prefix>/<taskId>/`. */
  private async writeExport(t: TaskState): Promise<void> {
    const base = `${t.prefix ? `${t.prefix.replace(/\/$/, '')}/` : ''}${t.id}`;
    const put = (key: string, body: string) =>
      this.options.s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: `${base}/${key}`, Body: body }));
    const perTableStatus = this.tables.map((tb) => ({
      TableStatistics: {
        extractionStartTime: this.options.now().toISOString(),
        extractionEndTime: this.options.now().toISOString(),
      },
      schemaMetadata: { originalTypeMappings: [] },
      status: tb.status ?? 'COMPLETE',
      sizeGB: 0,
      target: `${tb.db}.${tb.table}`,
      ...(tb.status && tb.status !== 'COMPLETE' ? { failureCause: `table ${tb.table} could not be read` } : {}),
    }));
    await put(
      `export_info_${t.id}.json`,
      JSON.stringify({
        exportTaskIdentifier: t.id,
        sourceArn: t.sourceArn,
        status: 'COMPLETE',
        totalExportedDataInGB: 0,
      }),
    );
    await put(`export_tables_info_${t.id}_from_1_to_${this.tables.length}.json`, JSON.stringify({ perTableStatus }));
    for (const tb of this.tables) {
      if (tb.status && tb.status !== 'COMPLETE') continue;
      for (let n = 0; n < tb.files; n++) {
        await put(
          `${tb.db}/${tb.table}/1/part-${String(n).padStart(5, '0')}-${t.id.slice(-6)}.gz.parquet`,
          `PAR1 ${tb.db}.${tb.table} part ${n} `.repeat(20),
        );
      }
    }
  }
}
