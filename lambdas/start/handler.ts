/**
 * Start stage: woken by RDS-EVENT-0169 (automated cluster snapshot created) or by a `start`, `retry` or
 * `advance` message. Records the run (once per snapshot), then exports directly when the snapshot allows
 * it, or restores it to a temporary provisioned cluster.
 */
import type { SNSEvent } from 'aws-lambda';
import type { DBClusterSnapshot } from '@aws-sdk/client-rds';
import { ExportMode, type SourceClusterConfig } from '../../config/schema';
import { ExportPath, RunStage, StageFunction, isTerminal, newRun, type Run } from '../shared/domain/run';
import { runIdFor, tempResourceId, tempResourceTags } from '../shared/domain/naming';
import { RdsEventId } from '../shared/domain/rds-event';
import { isAwsError, isExportUnsupported } from '../shared/adapters/rds';
import { errorMessage, errorName, isPermanentAwsError, isTransientAwsFault } from '../shared/errors';
import { finishStage } from '../shared/stage/finish-stage';
import { startRunExport } from '../shared/stage/export-start';
import { destinationOf, destinationRefusal, runDestinationPrefix } from '../shared/stage/destination';
import { CopyBatchStore } from '../shared/adapters/copy-batch-store';
import {
  defaultStageDeps,
  forEachRecord,
  forRun,
  memoDeps,
  type DepsSource,
  type StageDeps,
} from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';

/** The configured source cluster of that id, if any. */
function configuredCluster(d: StageDeps, clusterId: string | undefined): SourceClusterConfig | undefined {
  if (!clusterId) return undefined;
  return d.settings.sourceClusters.find((c) => c.identifier.toLowerCase() === clusterId.toLowerCase());
}

/** Where a temporary cluster goes: its DB subnet group and VPC security groups. */
interface RestoreNetwork {
  readonly DBSubnetGroupName?: string;
  readonly VpcSecurityGroupIds?: string[];
}

/**
 * The network of the run's temporary cluster: the configured subnet group and security groups, and where the
 * configuration names none, the source cluster's (read from DescribeDBClusters). Without a subnet group RDS
 * would use the default VPC, which an account may not have, and without security groups the VPC's default
 * group. The source's security groups are taken only with its subnet group: they belong to its VPC. Returns
 * undefined when the source cluster is gone and the configuration does not say where to restore.
 */
async function restoreNetwork(d: StageDeps, run: Run): Promise<RestoreNetwork | undefined> {
  const r = d.settings.restore;
  const configuredGroups = r.vpcSecurityGroupIds.length ? { VpcSecurityGroupIds: [...r.vpcSecurityGroupIds] } : {};
  if (r.dbSubnetGroupName) return { DBSubnetGroupName: r.dbSubnetGroupName, ...configuredGroups };
  const source = await d.rds.describeCluster(run.sourceClusterId);
  if (!source?.DBSubnetGroup) return undefined;
  const sourceGroups = (source.VpcSecurityGroups ?? [])
    .filter((g) => g.VpcSecurityGroupId && g.Status !== 'inactive')
    .map((g) => g.VpcSecurityGroupId as string);
  return {
    DBSubnetGroupName: source.DBSubnetGroup,
    ...(r.vpcSecurityGroupIds.length
      ? configuredGroups
      : sourceGroups.length
        ? { VpcSecurityGroupIds: sourceGroups }
        : {}),
  };
}

/** Restores the run's snapshot to its temporary cluster and moves it to RESTORING. */
async function restore(d: StageDeps, run: Run, snapshot: DBClusterSnapshot): Promise<void> {
  const s = d.settings;
  const tempId = tempResourceId(s.tempResourcePrefix, run.runId);
  const network = await restoreNetwork(d, run);
  if (!network) {
    await finishStage(d, run.runId, RunStage.PENDING, {
      type: 'Failed',
      stage: RunStage.PENDING,
      kind: 'RestoreNetworkUnknown',
      message:
        `source cluster ${run.sourceClusterId} no longer exists (or has no DB subnet group), so its temporary cluster ` +
        'has nowhere to go: set restore.dbSubnetGroupName (and restore.vpcSecurityGroupIds) in the configuration',
    });
    return;
  }
  try {
    const result = await d.rds.restoreCluster({
      DBClusterIdentifier: tempId,
      SnapshotIdentifier: run.sourceSnapshotArn,
      Engine: snapshot.Engine,
      EngineVersion: s.restore.engineVersion ?? snapshot.EngineVersion,
      EngineMode: 'provisioned',
      ...network,
      DeletionProtection: false,
      CopyTagsToSnapshot: false,
      Tags: tempResourceTags(s.managedByTag, run.runId, s.tags),
    });
    d.logger.info(result === 'created' ? 'restore started' : 'restore already started', {
      tempClusterId: tempId,
      ...network,
    });
  } catch (e) {
    if (isTransientAwsFault(e)) {
      d.logger.warn('RDS cannot restore now; the run stays PENDING and the reconciler starts it again', {
        error: errorName(e),
        message: errorMessage(e),
      });
      return;
    }
    if (isPermanentAwsError(e)) {
      await finishStage(d, run.runId, RunStage.PENDING, {
        type: 'Failed',
        stage: RunStage.PENDING,
        kind: errorName(e),
        message: `RestoreDBClusterFromSnapshot ${tempId} refused: ${errorMessage(e)}`,
      });
      return;
    }
    throw e;
  }
  await finishStage(d, run.runId, RunStage.PENDING, {
    type: 'RestoreStarted',
    tempClusterId: tempId,
    tempSnapshotId: tempId,
  });
}

/**
 * Every run, first attempt or retry, makes sure it may deliver where it will before it spends an export:
 * another snapshot's delivery (a backfill of the same day, say) or an earlier attempt's partial delivery
 * under the same destination prefix fails it now, before anything is restored or exported, with the error
 * that says what to do. One consistent read of the run table. Returns true when the run was failed.
 */
async function refusedDestination(d: StageDeps, run: Run): Promise<boolean> {
  const destination = destinationOf(d.settings);
  const prefix = runDestinationPrefix(d.settings, run);
  const batches = new CopyBatchStore({ tableName: d.settings.tableName, client: d.store.client, now: d.now });
  const refusal = destinationRefusal(
    await batches.destinationStatus(destination, prefix, run),
    destination,
    prefix,
    run,
  );
  if (!refusal) return false;
  d.logger.warn('the run cannot deliver under its destination prefix; failing it before any work', {
    kind: refusal.name,
    destinationPrefix: prefix,
  });
  await finishStage(d, run.runId, RunStage.PENDING, {
    type: 'Failed',
    stage: RunStage.PENDING,
    kind: refusal.name,
    message: refusal.message,
  });
  return true;
}

/** Does the start work of a PENDING run: direct export, or restore (directly, or as the `auto` fallback). */
async function proceed(
  d: StageDeps,
  run: Run,
  snapshot: DBClusterSnapshot,
  cluster: SourceClusterConfig,
): Promise<void> {
  if (await refusedDestination(d, run)) return;
  if (run.path === ExportPath.DIRECT) {
    const fallback = cluster.exportMode === ExportMode.AUTO;
    const moved = await startRunExport(d, run, run.sourceSnapshotArn, ExportPath.DIRECT, {
      onUnsupported: (e) => fallback && isExportUnsupported(e),
    });
    if (moved) return;
    d.logger.info('the snapshot cannot be exported directly; restoring it first', { engineMode: snapshot.EngineMode });
  }
  await restore(d, run, snapshot);
}

/** The path a snapshot takes under a cluster's export mode. */
function pathFor(cluster: SourceClusterConfig, snapshot: DBClusterSnapshot): ExportPath {
  if (cluster.exportMode === ExportMode.RESTORE) return ExportPath.RESTORE;
  if (cluster.exportMode === ExportMode.DIRECT) return ExportPath.DIRECT;
  return snapshot.EngineMode === 'serverless' ? ExportPath.RESTORE : ExportPath.DIRECT;
}

/**
 * Records (or finds) the run of `snapshot`'s given attempt and, while it is PENDING, does the start work.
 * `reuseDestination` is recorded on a new run (see {@link Run.reuseDestination}).
 */
async function startSnapshot(
  d: StageDeps,
  snapshot: DBClusterSnapshot,
  attempt = 1,
  reuseDestination = false,
): Promise<void> {
  const cluster = configuredCluster(d, snapshot.DBClusterIdentifier);
  const snapshotId = snapshot.DBClusterSnapshotIdentifier;
  if (!cluster || !snapshotId || !snapshot.DBClusterSnapshotArn) {
    d.logger.info('ignoring a snapshot of a cluster that is not configured', {
      snapshot: snapshotId,
      cluster: snapshot.DBClusterIdentifier,
    });
    return;
  }
  if (snapshot.Status !== 'available') {
    d.logger.warn('ignoring a snapshot that is not available', { snapshot: snapshotId, status: snapshot.Status });
    return;
  }
  const candidate = newRun({
    runId: runIdFor(snapshotId, attempt),
    attempt,
    sourceClusterId: cluster.identifier,
    sourceSnapshotId: snapshotId,
    sourceSnapshotArn: snapshot.DBClusterSnapshotArn,
    sourceSnapshotCreatedAt: snapshot.SnapshotCreateTime?.toISOString(),
    reuseDestination,
    path: pathFor(cluster, snapshot),
    now: d.now(),
    pendingDeadlineMinutes: d.settings.stageDeadlinesMinutes.restoring,
  });
  await forRun(d.logger, candidate.runId, async () => {
    const { created, run } = await d.store.createRun(candidate);
    if (!created && run.stage !== RunStage.PENDING) {
      d.logger.info('the snapshot already has a run; nothing to do', { stage: run.stage });
      return;
    }
    d.logger.info(created ? 'run recorded' : 'continuing a pending run', {
      snapshot: snapshotId,
      cluster: cluster.identifier,
      path: run.path,
    });
    await proceed(d, run, snapshot, cluster);
  });
}

/**
 * A snapshot by id or ARN, or undefined (logged). A start message can name anything, so a name RDS refuses
 * as malformed (InvalidParameterValue) is bad input, logged and ignored like a snapshot that does not exist.
 */
async function findSnapshot(d: StageDeps, idOrArn: string): Promise<DBClusterSnapshot | undefined> {
  try {
    const snapshot = await d.rds.describeClusterSnapshot(idOrArn);
    if (!snapshot) d.logger.warn('snapshot not found', { snapshot: idOrArn });
    return snapshot;
  } catch (e) {
    if (!isAwsError(e, 'InvalidParameterValue')) throw e;
    d.logger.warn('not a cluster snapshot identifier or ARN that RDS accepts', {
      snapshot: idOrArn,
      error: errorMessage(e),
    });
    return undefined;
  }
}

/** A new attempt for the snapshot of a finished run; `reuseDestination` as the operator asked for it. */
async function retry(d: StageDeps, runId: string, reuseDestination = false): Promise<void> {
  const old = await d.store.get(runId);
  if (!old) return void d.logger.warn('retry of an unknown run ignored', { runId });
  const runs = await d.store.findBySnapshot(old.sourceSnapshotArn);
  const latest = [old, ...runs].reduce((a, b) => (b.attempt > a.attempt ? b : a));
  const fresh = (await d.store.get(latest.runId)) ?? latest;
  if (!isTerminal(fresh.stage)) {
    if (fresh.stage === RunStage.PENDING) return advance(d, fresh.runId);
    return void d.logger.info('the snapshot has a live run; retry ignored', {
      runId,
      liveRunId: fresh.runId,
      stage: fresh.stage,
    });
  }
  if (fresh.stage === RunStage.SUCCEEDED)
    return void d.logger.info('the snapshot was exported already; retry ignored', { runId, latest: fresh.runId });
  const snapshot = await findSnapshot(d, old.sourceSnapshotArn);
  if (snapshot) await startSnapshot(d, snapshot, fresh.attempt + 1, reuseDestination);
}

/** Does the start work again for a run still PENDING (its earlier delivery crashed or was lost). */
async function advance(d: StageDeps, runId: string): Promise<void> {
  await forRun(d.logger, runId, async () => {
    const run = await d.store.get(runId);
    if (!run || run.stage !== RunStage.PENDING) return void d.logger.info('nothing to advance', { stage: run?.stage });
    const cluster = configuredCluster(d, run.sourceClusterId);
    const snapshot = await findSnapshot(d, run.sourceSnapshotArn);
    if (!cluster || !snapshot) {
      await finishStage(d, runId, RunStage.PENDING, {
        type: 'Failed',
        stage: RunStage.PENDING,
        kind: 'SourceGone',
        message: `source snapshot ${run.sourceSnapshotId} or its cluster is no longer available`,
      });
      return;
    }
    await proceed(d, run, snapshot, cluster);
  });
}

/** Builds the start function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  const deps = memoDeps(source);
  return async (event: SNSEvent): Promise<void> => {
    const d = deps();
    await forEachRecord(event, d.logger, async (record) => {
      if (record.type === 'rds') {
        const e = record.event;
        if (e.eventId !== RdsEventId.AUTOMATED_CLUSTER_SNAPSHOT_CREATED)
          return void d.logger.info('ignoring an RDS event for another stage', { eventId: e.eventId });
        const snapshot = await findSnapshot(d, e.sourceArn ?? e.sourceId);
        if (snapshot) await startSnapshot(d, snapshot);
        return;
      }
      if (record.target !== StageFunction.START)
        return void d.logger.info('ignoring a message for another stage', { target: record.target });
      const m = record.message;
      switch (m.kind) {
        case 'start': {
          if (!configuredCluster(d, m.clusterId))
            return void d.logger.warn('ignoring a start for a cluster that is not configured', {
              clusterId: m.clusterId,
            });
          const snapshot = m.snapshotArn
            ? await findSnapshot(d, m.snapshotArn)
            : await d.rds.newestAutomatedSnapshot(m.clusterId);
          if (!snapshot)
            return void d.logger.warn('no snapshot to export', { clusterId: m.clusterId, snapshot: m.snapshotArn });
          if (snapshot.DBClusterIdentifier?.toLowerCase() !== m.clusterId.toLowerCase()) {
            return void d.logger.warn('ignoring a start whose snapshot belongs to another cluster', {
              clusterId: m.clusterId,
              snapshotCluster: snapshot.DBClusterIdentifier,
            });
          }
          return startSnapshot(d, snapshot);
        }
        case 'retry':
          return retry(d, m.runId, m.reuseDestination === true);
        case 'advance':
          return advance(d, m.runId);
        default:
          return void d.logger.info('ignoring a message the start stage does not handle', { kind: m.kind });
      }
    });
  };
}

/** The deployed function. */
export const handler = lambdaEntry(defaultStageDeps(StageFunction.START), makeHandler);
