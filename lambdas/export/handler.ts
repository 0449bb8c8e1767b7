/**
 * Export stage: woken by RDS-EVENT-0075 for a temporary snapshot (or an `advance` from the reconciler,
 * which also retries runs waiting for an export slot). Deletes the temporary cluster, which is no longer
 * needed once its snapshot exists, and starts the export.
 */
import { ExportPath, RunStage, StageFunction, type Run } from '../shared/domain/run';
import { RdsEventId } from '../shared/domain/rds-event';
import { isAwsError } from '../shared/adapters/rds';
import { errorMessage } from '../shared/errors';
import { finishStage } from '../shared/stage/finish-stage';
import { startRunExport } from '../shared/stage/export-start';
import { defaultStageDeps, makeRunStageHandler, type DepsSource, type StageDeps } from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';

/**
 * Deletes the temporary cluster (never with a final snapshot) without describing it first, which this stage
 * is not allowed to do; a cluster already deleting, or busy in another state, is left to the cleanup.
 * Returns what it removed, for the run's `cleanedUp`; a cluster the run already records as removed (a run
 * waiting for an export slot comes back on every reconciler pass) is not asked for again.
 */
async function dropTempCluster(d: StageDeps, run: Run): Promise<string[]> {
  if (!run.tempClusterId || run.cleanedUp?.includes(`cluster:${run.tempClusterId}`)) return [];
  try {
    const result = await d.rds.deleteCluster(run.tempClusterId, { describeFirst: false });
    d.logger.info('temporary cluster no longer needed', { tempClusterId: run.tempClusterId, result });
    return [`cluster:${run.tempClusterId}`];
  } catch (e) {
    if (!isAwsError(e, 'InvalidDBClusterStateFault')) throw e;
    d.logger.warn('temporary cluster cannot be deleted yet; the cleanup deletes it', { error: errorMessage(e) });
    return [];
  }
}

async function exportRun(d: StageDeps, runId: string): Promise<void> {
  const run = await d.store.get(runId);
  if (!run) return void d.logger.warn('no run for this temporary snapshot; the reconciler removes orphans');
  if (run.stage === RunStage.SNAPSHOTTING && run.tempSnapshotId) {
    const snapshot = await d.rds.describeClusterSnapshot(run.tempSnapshotId);
    if (snapshot?.Status === 'failed') {
      await finishStage(d, runId, RunStage.SNAPSHOTTING, {
        type: 'Failed',
        stage: RunStage.SNAPSHOTTING,
        kind: 'SnapshotFailed',
        message: `manual snapshot ${run.tempSnapshotId} failed`,
      });
      return;
    }
    if (snapshot?.Status !== 'available' || !snapshot.DBClusterSnapshotArn)
      return void d.logger.info('temporary snapshot not available yet', { status: snapshot?.Status ?? 'missing' });
    const cleanedUp = await dropTempCluster(d, run);
    await startRunExport(d, run, snapshot.DBClusterSnapshotArn, ExportPath.RESTORE, { cleanedUp });
    return;
  }
  if (run.stage === RunStage.WAITING_FOR_EXPORT_SLOT) {
    const cleanedUp = run.path === ExportPath.RESTORE ? await dropTempCluster(d, run) : [];
    await startRunExport(d, run, run.exportSourceArn ?? run.sourceSnapshotArn, run.path, { cleanedUp });
    return;
  }
  d.logger.info('run is not waiting to export; nothing to do', { stage: run.stage });
}

/** Builds the export function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  return makeRunStageHandler(source, {
    target: StageFunction.EXPORT,
    eventIds: [RdsEventId.MANUAL_CLUSTER_SNAPSHOT_CREATED],
    sourceKind: 'snapshot',
    act: exportRun,
  });
}

/** The deployed function. */
export const handler = lambdaEntry(defaultStageDeps(StageFunction.EXPORT), makeHandler);
