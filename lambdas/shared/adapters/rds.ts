/**
 * A thin layer over the RDS client: the calls the stages make, with the "already exists" and "not found"
 * answers for the run's own resources turned into plain results, since those mean the work is done.
 */
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
  type DBCluster,
  type DBClusterSnapshot,
  type ExportTask,
  type RestoreDBClusterFromSnapshotCommandInput,
  type StartExportTaskCommandInput,
  type Tag,
} from '@aws-sdk/client-rds';
import { errorMessage, errorName } from '../errors';

/** True when `e` is an AWS error with one of these names (SDK error classes carry it in `name`). */
export function isAwsError(e: unknown, ...names: string[]): boolean {
  const n = errorName(e);
  return names.includes(n) || names.includes(((e as { Code?: string })?.Code ?? '') as string);
}

/** Result of an idempotent create: made now, or found already made (by an earlier delivery). */
export type CreateResult = 'created' | 'exists';
/** Result of an idempotent delete: asked for now, already on its way, or already gone. */
export type DeleteResult = 'deleted' | 'deleting' | 'gone';

/**
 * StartExportTask refused for lack of a free slot: an account runs at most five snapshot export tasks at
 * a time ("You can have up to five concurrent DB snapshot export tasks in progress per AWS account",
 * Aurora User Guide, Considerations for DB cluster snapshot exports:
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-export-snapshot.Considerations.html).
 *
 * The StartExportTask API documents no error for that limit: its errors, in the API reference
 * (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartExportTask.html) and in the model of
 * `@aws-sdk/client-rds`, are DBClusterNotFoundFault, DBClusterSnapshotNotFoundFault, DBSnapshotNotFoundFault,
 * ExportTaskAlreadyExistsFault, IamRoleMissingPermissionsFault, IamRoleNotFoundFault, InvalidExportOnlyFault,
 * InvalidExportSourceStateFault, InvalidS3BucketFault and KMSKeyNotAccessibleFault. The SDK therefore raises
 * it unmodelled, named by its wire code, which users report as `ExportTaskLimitReachedFault` with the message
 * "You have reached the limit of 5 concurrent export tasks". Since that is undocumented, the code is matched
 * and, as a fallback, that message (the number being the account's quota).
 */
export function isExportSlotUnavailable(e: unknown): boolean {
  if (isAwsError(e, 'ExportTaskLimitReachedFault')) return true;
  return /limit of \d+ concurrent export tasks/i.test(errorMessage(e));
}

/**
 * StartExportTask refused the snapshot itself because it cannot be exported directly, which the restore path
 * fixes: "You can't export snapshot data from Aurora Serverless v1 DB clusters to S3" (Aurora User Guide,
 * Considerations for DB cluster snapshot exports, link above; exports support only the provisioned engine
 * mode). The docs name no error code for this refusal; of the documented StartExportTask errors it is
 * InvalidExportSourceStateFault ("The state of the export snapshot is invalid for exporting"), and RDS
 * reports unsupported engine modes as InvalidParameterValue or InvalidParameterCombination. Those codes are
 * broad (an invalid task id is an InvalidParameterValue too), so the message must also speak of Serverless,
 * the engine mode or export support; anything else is a real failure of the run.
 */
export function isExportUnsupported(e: unknown): boolean {
  return (
    isAwsError(e, 'InvalidExportSourceStateFault', 'InvalidParameterValue', 'InvalidParameterCombination') &&
    /serverless|engine ?mode|not supported|unsupported|(cannot|can't|can not) be exported/i.test(errorMessage(e))
  );
}

/**
 * True for the id or ARN of an automated cluster snapshot: RDS names those `rds:<cluster>-<timestamp>`
 * (Aurora User Guide, Backing up and restoring an Aurora DB cluster), so the ARN ends in
 * `:cluster-snapshot:rds:...`. Manual snapshot ids cannot contain a colon.
 */
export function isAutomatedSnapshotId(idOrArn: string): boolean {
  return /(^|:cluster-snapshot:)rds:/.test(idOrArn);
}

/** The RDS calls of the pipeline. */
export class RdsGateway {
  constructor(readonly client: RDSClient = new RDSClient({})) {}

  /**
   * A cluster snapshot by id or ARN, or undefined. An automated snapshot's id is sent with
   * `SnapshotType: automated`, which the API requires for it ("If this identifier is for an automated
   * snapshot, the SnapshotType parameter must also be specified", DescribeDBClusterSnapshots).
   */
  async describeClusterSnapshot(idOrArn: string): Promise<DBClusterSnapshot | undefined> {
    try {
      const out = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({
          DBClusterSnapshotIdentifier: idOrArn,
          ...(isAutomatedSnapshotId(idOrArn) ? { SnapshotType: 'automated' } : {}),
        }),
      );
      return out.DBClusterSnapshots?.[0];
    } catch (e) {
      if (isAwsError(e, 'DBClusterSnapshotNotFoundFault', 'DBClusterSnapshotNotFound')) return undefined;
      throw e;
    }
  }

  /** The newest available automated snapshot of a cluster, or undefined. */
  async newestAutomatedSnapshot(clusterId: string): Promise<DBClusterSnapshot | undefined> {
    let newest: DBClusterSnapshot | undefined;
    let marker: string | undefined;
    do {
      const out = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({
          DBClusterIdentifier: clusterId,
          SnapshotType: 'automated',
          Marker: marker,
        }),
      );
      for (const s of out.DBClusterSnapshots ?? []) {
        if (s.Status !== 'available') continue;
        if (!newest || (s.SnapshotCreateTime?.getTime() ?? 0) > (newest.SnapshotCreateTime?.getTime() ?? 0)) newest = s;
      }
      marker = out.Marker;
    } while (marker);
    return newest;
  }

  /** A cluster, or undefined. */
  async describeCluster(id: string): Promise<DBCluster | undefined> {
    try {
      const out = await this.client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
      return out.DBClusters?.[0];
    } catch (e) {
      if (isAwsError(e, 'DBClusterNotFoundFault', 'DBClusterNotFound')) return undefined;
      throw e;
    }
  }

  /** Restores a snapshot to a new cluster; an existing cluster of that name counts as done. */
  async restoreCluster(input: RestoreDBClusterFromSnapshotCommandInput): Promise<CreateResult> {
    try {
      await this.client.send(new RestoreDBClusterFromSnapshotCommand(input));
      return 'created';
    } catch (e) {
      if (isAwsError(e, 'DBClusterAlreadyExistsFault')) return 'exists';
      throw e;
    }
  }

  /** Takes a manual snapshot of a cluster; an existing snapshot of that name counts as done. */
  async createClusterSnapshot(snapshotId: string, clusterId: string, tags: Tag[]): Promise<CreateResult> {
    try {
      await this.client.send(
        new CreateDBClusterSnapshotCommand({
          DBClusterSnapshotIdentifier: snapshotId,
          DBClusterIdentifier: clusterId,
          Tags: tags,
        }),
      );
      return 'created';
    } catch (e) {
      if (isAwsError(e, 'DBClusterSnapshotAlreadyExistsFault')) return 'exists';
      throw e;
    }
  }

  /**
   * Deletes a cluster without a final snapshot. Missing is done; a cluster already being deleted is done.
   * A cluster in another transitional state (still creating) throws InvalidDBClusterStateFault: retry later.
   * `describeFirst: false` skips the DescribeDBClusters call, for callers not allowed to make it; a cluster
   * already deleting then throws InvalidDBClusterStateFault too.
   */
  async deleteCluster(id: string, options: { describeFirst?: boolean } = {}): Promise<DeleteResult> {
    if (options.describeFirst ?? true) {
      const cluster = await this.describeCluster(id);
      if (!cluster) return 'gone';
      if (cluster.Status === 'deleting') return 'deleting';
    }
    try {
      await this.client.send(new DeleteDBClusterCommand({ DBClusterIdentifier: id, SkipFinalSnapshot: true }));
      return 'deleted';
    } catch (e) {
      if (isAwsError(e, 'DBClusterNotFoundFault')) return 'gone';
      throw e;
    }
  }

  /** Deletes a cluster snapshot; missing is done. A snapshot still being created throws its state fault. */
  async deleteClusterSnapshot(id: string): Promise<DeleteResult> {
    try {
      await this.client.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: id }));
      return 'deleted';
    } catch (e) {
      if (isAwsError(e, 'DBClusterSnapshotNotFoundFault')) return 'gone';
      throw e;
    }
  }

  /** Starts an export; an existing task of that id (an earlier delivery's) counts as done. */
  async startExportTask(input: StartExportTaskCommandInput): Promise<CreateResult> {
    try {
      await this.client.send(new StartExportTaskCommand(input));
      return 'created';
    } catch (e) {
      if (isAwsError(e, 'ExportTaskAlreadyExistsFault', 'ExportTaskAlreadyExists')) return 'exists';
      throw e;
    }
  }

  /** An export task, or undefined. */
  async describeExportTask(id: string): Promise<ExportTask | undefined> {
    try {
      const out = await this.client.send(new DescribeExportTasksCommand({ ExportTaskIdentifier: id }));
      return out.ExportTasks?.[0];
    } catch (e) {
      if (isAwsError(e, 'ExportTaskNotFoundFault', 'ExportTaskNotFound')) return undefined;
      throw e;
    }
  }

  /** Cancels an export task that is still running; missing or already finished is done. */
  async cancelExportTask(id: string): Promise<'cancelled' | 'not-running'> {
    try {
      await this.client.send(new CancelExportTaskCommand({ ExportTaskIdentifier: id }));
      return 'cancelled';
    } catch (e) {
      if (isAwsError(e, 'ExportTaskNotFoundFault', 'InvalidExportTaskStateFault')) return 'not-running';
      throw e;
    }
  }

  /** Every cluster whose id starts with `prefix`, with its tags. */
  async listClusters(prefix: string): Promise<DBCluster[]> {
    const found: DBCluster[] = [];
    let marker: string | undefined;
    do {
      const out = await this.client.send(new DescribeDBClustersCommand({ Marker: marker }));
      found.push(...(out.DBClusters ?? []).filter((c) => c.DBClusterIdentifier?.startsWith(prefix)));
      marker = out.Marker;
    } while (marker);
    return found;
  }

  /** Every manual cluster snapshot whose id starts with `prefix`, with its tags. */
  async listManualSnapshots(prefix: string): Promise<DBClusterSnapshot[]> {
    const found: DBClusterSnapshot[] = [];
    let marker: string | undefined;
    do {
      const out = await this.client.send(
        new DescribeDBClusterSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }),
      );
      found.push(...(out.DBClusterSnapshots ?? []).filter((s) => s.DBClusterSnapshotIdentifier?.startsWith(prefix)));
      marker = out.Marker;
    } while (marker);
    return found;
  }
}
