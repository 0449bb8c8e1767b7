/**
 * Snapshot stage: woken by RDS-EVENT-0170 for a temporary cluster (or an `advance` from the reconciler).
 * Takes a manual snapshot of the restored cluster and moves the run to SNAPSHOTTING.
 */
import { RunStage, StageFunction } from '../shared/domain/run';
import { tempResourceTags } from '../shared/domain/naming';
import { RdsEventId } from '../shared/domain/rds-event';
import { errorMessage, errorName, isPermanentAwsError, isTransientAwsFault } from '../shared/errors';
import { finishStage } from '../shared/stage/finish-stage';
import { defaultStageDeps, makeRunStageHandler, type DepsSource, type StageDeps } from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';

async function snapshotRun(d: StageDeps, runId: string): Promise<void> {
  const run = await d.store.get(runId);
  if (!run) return void d.logger.warn('no run for this temporary cluster; the reconciler removes orphans');
  if (run.stage !== RunStage.RESTORING || !run.tempClusterId || !run.tempSnapshotId)
    return void d.logger.info('run is not restoring; nothing to do', { stage: run.stage });
  const cluster = await d.rds.describeCluster(run.tempClusterId);
  if (cluster?.Status !== 'available')
    return void d.logger.info('temporary cluster not available yet; the reconciler advances it later', {
      status: cluster?.Status ?? 'missing',
    });
  try {
    const result = await d.rds.createClusterSnapshot(
      run.tempSnapshotId,
      run.tempClusterId,
      tempResourceTags(d.settings.managedByTag, run.runId, d.settings.tags),
    );
    d.logger.info(result === 'created' ? 'snapshot of the temporary cluster started' : 'snapshot already started', {
      tempSnapshotId: run.tempSnapshotId,
    });
  } catch (e) {
    if (isTransientAwsFault(e))
      return void d.logger.warn('RDS cannot snapshot the temporary cluster now; the reconciler advances it later', {
        error: errorName(e),
        message: errorMessage(e),
      });
    if (!isPermanentAwsError(e)) throw e;
    await finishStage(d, runId, RunStage.RESTORING, {
      type: 'Failed',
      stage: RunStage.RESTORING,
      kind: errorName(e),
      message: `CreateDBClusterSnapshot ${run.tempSnapshotId} refused: ${errorMessage(e)}`,
    });
    return;
  }
  await finishStage(d, runId, RunStage.RESTORING, { type: 'SnapshotStarted' });
}

/** Builds the snapshot function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  return makeRunStageHandler(source, {
    target: StageFunction.SNAPSHOT,
    eventIds: [RdsEventId.CLUSTER_CREATED],
    sourceKind: 'cluster',
    act: snapshotRun,
  });
}

/** The deployed function. */
export const handler = lambdaEntry(defaultStageDeps(StageFunction.SNAPSHOT), makeHandler);
