/**
 * Cleanup stage: woken by `cleanup` (a stage finished, well or badly), `cancel` (an operator) or `advance`
 * (the reconciler). Cancels every export task of the run still running (each attempt's, recorded or not),
 * deletes the temporary snapshot and cluster (missing counts as done), finishes the run, and reports it:
 * metric and alert (the reconciler sends again an alert whose delivery was never confirmed). Safe to run
 * again.
 *
 * A resource that cannot be deleted yet (a snapshot still being created, or held by an export being
 * cancelled) is a wait, not a failure: the cleanup records what it removed and what it waits for, and
 * returns; the reconciler sends it again while the run stays CLEANING_UP, and reports the run once the
 * stage's deadline has passed. Only genuine AWS failures are thrown (and retried by Lambda).
 */
import type { SNSEvent } from 'aws-lambda';
import { RunOutcome, RunStage, StageFunction, isTerminal, type Run } from '../shared/domain/run';
import { tempResourceId } from '../shared/domain/naming';
import { RUNNING_EXPORT_STATES, exportTaskIdsOf } from '../shared/stage/export-attempts';
import { isAwsError } from '../shared/adapters/rds';
import { StaleTransition, errorMessage } from '../shared/errors';
import { PipelineMetrics } from '../shared/contracts/table-layout';
import { alertOwed, sendRunAlert } from '../shared/stage/run-alert';
import {
  defaultStageDeps,
  forEachRecord,
  forRun,
  memoDeps,
  type DepsSource,
  type StageDeps,
} from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';

/**
 * Deletes what the run may have created. Names are derived from the run id rather than read from the run,
 * so a resource created just before a crash (and never recorded) is found too. A resource already gone
 * that the run is known to have created (the cluster once RESTORING was entered, the snapshot once
 * SNAPSHOTTING was) counts as removed by the run: the export stage or an earlier cleanup delivery deleted it.
 */
/** What one cleanup pass did: resources removed now, and resources that cannot be deleted yet (with why). */
interface CleanupPass {
  readonly cleaned: string[];
  readonly pending: string[];
}

async function deleteTemporaryResources(d: StageDeps, run: Run): Promise<CleanupPass> {
  const s = d.settings;
  const cleaned: string[] = [];
  const pending: string[] = [];
  // Every attempt's task, not only the recorded one: a delivery may have started one and crashed before
  // recording it. The task of a succeeded run has completed; any other of its attempts' tasks is surplus.
  const taskIds = exportTaskIdsOf(s.tempResourcePrefix, run).filter(
    (id) => run.outcome !== RunOutcome.SUCCEEDED || id !== run.exportTaskId,
  );
  for (const taskId of taskIds) {
    const task = await d.rds.describeExportTask(taskId);
    if (task && RUNNING_EXPORT_STATES.includes((task.Status ?? '').toUpperCase())) {
      await d.rds.cancelExportTask(taskId);
      cleaned.push(`export-task:${taskId} (cancelled)`);
    }
  }
  const tempId = tempResourceId(s.tempResourcePrefix, run.runId);
  try {
    const r = await d.rds.deleteClusterSnapshot(tempId);
    if (r !== 'gone' || run.stageEnteredAt[RunStage.SNAPSHOTTING]) cleaned.push(`cluster-snapshot:${tempId}`);
  } catch (e) {
    if (!isAwsError(e, 'InvalidDBClusterSnapshotStateFault')) throw e;
    pending.push(`cluster-snapshot:${tempId} (${errorMessage(e)})`);
  }
  try {
    const r = await d.rds.deleteCluster(tempId);
    if (r !== 'gone' || run.stageEnteredAt[RunStage.RESTORING]) cleaned.push(`cluster:${tempId}`);
  } catch (e) {
    if (!isAwsError(e, 'InvalidDBClusterStateFault')) throw e;
    pending.push(`cluster:${tempId} (${errorMessage(e)})`);
  }
  return { cleaned, pending };
}

/**
 * Records on the run what this pass removed and what the cleanup still waits for, so that nothing done
 * is forgotten by the time the run ends (a cancelled export task is no longer running on the next pass).
 */
async function recordWait(d: StageDeps, run: Run, pass: CleanupPass): Promise<void> {
  const cleanedUp = [...new Set([...(run.cleanedUp ?? []), ...pass.cleaned])];
  // On the condition that no other delivery added to `cleanedUp` since it was read (see cleanUp); entries are
  // only ever added, so an unchanged length means an unchanged list.
  await d.store.update(run.runId, {
    set: { cleanedUp, cleanupWaitingFor: pass.pending },
    ifStage: RunStage.CLEANING_UP,
    condition:
      run.cleanedUp === undefined
        ? { expression: 'attribute_not_exists(#cDone)', names: { '#cDone': 'cleanedUp' } }
        : {
            expression: 'size(#cDone) = :cDone',
            names: { '#cDone': 'cleanedUp' },
            values: { ':cDone': run.cleanedUp.length },
          },
  });
  d.logger.info('cleanup waits for resources that cannot be deleted yet; the reconciler sends it again', {
    waitingFor: pass.pending,
    cleanedUp,
  });
}

/** How many times a pass writes its result again after another delivery changed `cleanedUp` under it. */
const MAX_CLEANUP_WRITES = 5;

/**
 * Finishes a CLEANING_UP run and reports its end, or records what it did when it must wait. Deliveries can
 * run at once; each write of `cleanedUp` holds only if nobody added to it since this pass read the run, and
 * a pass that lost that race reads the run again and adds its own entries to what the other wrote.
 */
async function cleanUp(d: StageDeps, first: Run): Promise<void> {
  const pass = await deleteTemporaryResources(d, first);
  let run = first;
  for (let write = 1; ; write++) {
    try {
      if (pass.pending.length > 0) return await recordWait(d, run, pass);
      return await finish(d, run, pass.cleaned);
    } catch (e) {
      if (!(e instanceof StaleTransition) || write >= MAX_CLEANUP_WRITES) throw e;
      const fresh = await d.store.get(run.runId);
      if (fresh?.stage !== RunStage.CLEANING_UP) throw e;
      d.logger.info('another cleanup delivery recorded resources meanwhile; adding ours to them', {
        theirs: fresh.cleanedUp,
      });
      run = fresh;
    }
  }
}

/** Moves the run to its final stage with what this pass removed, and reports it. */
async function finish(d: StageDeps, run: Run, cleaned: string[]): Promise<void> {
  const done = await d.store.apply(run.runId, RunStage.CLEANING_UP, { type: 'CleanupDone', cleanedUp: cleaned });
  d.logger.info(`run ${done.stage}`, { stage: done.stage, cleanedUp: done.cleanedUp, error: done.error });
  if (done.stage === RunStage.SUCCEEDED) d.metrics.count(PipelineMetrics.runSucceeded, 1, { runId: done.runId });
  if (done.stage === RunStage.FAILED) d.metrics.count(PipelineMetrics.runFailed, 1, { runId: done.runId });
  if (alertOwed(d.settings, done)) await sendRunAlert(d, done);
}

async function handle(d: StageDeps, runId: string, cancel: boolean): Promise<void> {
  await forRun(d.logger, runId, async () => {
    let run = await d.store.get(runId);
    if (!run) return void d.logger.warn('no such run');
    if (cancel && !isTerminal(run.stage) && run.stage !== RunStage.CLEANING_UP) {
      run = await d.store.apply(runId, run.stage, { type: 'Cancelled', reason: 'cancelled by an operator' });
      d.logger.info('run cancelled');
    }
    if (run.stage !== RunStage.CLEANING_UP)
      return void d.logger.info('run is not cleaning up; nothing to do', { stage: run.stage });
    await cleanUp(d, run);
  });
}

/** Builds the cleanup function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  const deps = memoDeps(source);
  return async (event: SNSEvent): Promise<void> => {
    const d = deps();
    await forEachRecord(event, d.logger, async (record) => {
      if (record.type !== 'pipeline' || record.target !== StageFunction.CLEANUP)
        return void d.logger.info('ignoring input the cleanup stage does not handle');
      const m = record.message;
      if (m.kind === 'cleanup' || m.kind === 'advance' || m.kind === 'cancel')
        return handle(d, m.runId, m.kind === 'cancel');
      d.logger.info('ignoring a message the cleanup stage does not handle', { kind: m.kind });
    });
  };
}

/** The deployed function. */
export const handler = lambdaEntry(defaultStageDeps(StageFunction.CLEANUP), makeHandler);
