/**
 * Snapshot stage: woken by RDS-EVENT-0170 for a temporary cluster (or an `advance` from the reconciler).
 * Takes a manual snapshot of the restored cluster and moves the run to SNAPSHOTTING.
 */
import type { SNSEvent } from 'aws-lambda';
import { RunStage, StageFunction } from '../shared/domain/run';
import { runIdFromTempId, tempResourceTags } from '../shared/domain/naming';
import { RdsEventId } from '../shared/domain/rds-event';
import { errorMessage, errorName, isPermanentAwsError } from '../shared/errors';
import { finishStage } from '../shared/finish-stage';
import { defaultStageDeps, forEachRecord, forRun, memoDeps, type DepsSource, type StageDeps } from '../shared/runtime';

async function snapshotRun(d: StageDeps, runId: string): Promise<void> {
  await forRun(d.logger, runId, async () => {
    const run = await d.store.get(runId);
    if (!run) return void d.logger.warn('no run for this temporary cluster; the reconciler removes orphans');
    if (run.stage !== RunStage.RESTORING || !run.tempClusterId || !run.tempSnapshotId) return void d.logger.info('run is not restoring; nothing to do', { stage: run.stage });
    const cluster = await d.rds.describeCluster(run.tempClusterId);
    if (cluster?.Status !== 'available') return void d.logger.info('temporary cluster not available yet; the reconciler advances it later', { status: cluster?.Status ?? 'missing' });
    try {
      const result = await d.rds.createClusterSnapshot(run.tempSnapshotId, run.tempClusterId, tempResourceTags(d.settings.managedByTag, run.runId));
      d.logger.info(result === 'created' ? 'snapshot of the temporary cluster started' : 'snapshot already started', { tempSnapshotId: run.tempSnapshotId });
    } catch (e) {
      if (!isPermanentAwsError(e)) throw e;
      await finishStage(d, runId, RunStage.RESTORING, { type: 'Failed', stage: RunStage.RESTORING, kind: errorName(e), message: `CreateDBClusterSnapshot ${run.tempSnapshotId} refused: ${errorMessage(e)}` });
      return;
    }
    await finishStage(d, runId, RunStage.RESTORING, { type: 'SnapshotStarted' });
  });
}

/** Builds the snapshot function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  const deps = memoDeps(source);
  return async (event: SNSEvent): Promise<void> => {
    const d = deps();
    await forEachRecord(event, d.logger, async (record) => {
      if (record.type === 'pipeline') {
        if (record.target !== StageFunction.SNAPSHOT || record.message.kind !== 'advance') return void d.logger.info('ignoring a message the snapshot stage does not handle', { target: record.target, kind: record.message.kind });
        return snapshotRun(d, record.message.runId);
      }
      const e = record.event;
      if (e.eventId !== RdsEventId.CLUSTER_CREATED) return void d.logger.info('ignoring an RDS event for another stage', { eventId: e.eventId });
      const runId = runIdFromTempId(d.settings.tempResourcePrefix, e.sourceId);
      if (!runId) return void d.logger.info('ignoring a cluster that is not a temporary cluster of this pipeline', { sourceId: e.sourceId });
      return snapshotRun(d, runId);
    });
  };
}

/** The deployed function. */
export const handler = makeHandler(defaultStageDeps(StageFunction.SNAPSHOT));
