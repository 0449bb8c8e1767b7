/**
 * Export-finished stage: woken by RDS-EVENT-0164/0162/0163 (snapshot export completed/failed/canceled),
 * 0236/0234/0235 (cluster export), or an `advance` from the reconciler. Asks RDS how the run's task ended,
 * checks the per-table status files, and moves the run to COPYING (publishing `copy-plan`) or fails it.
 */
import { RunStage, StageFunction, type Run } from '../shared/domain/run';
import { runIdFromTempId } from '../shared/domain/naming';
import { EXPORT_FINISHED_EVENT_IDS, type RdsEvent } from '../shared/domain/rds-event';
import { readExportTablesInfo } from '../shared/adapters/s3';
import { ExportTablesFailed } from '../shared/errors';
import { finishStage } from '../shared/stage/finish-stage';
import { defaultStageDeps, makeRunStageHandler, type DepsSource, type StageDeps } from '../shared/runtime/stage-deps';
import { lambdaEntry } from '../shared/runtime/invocation';

async function finishExport(d: StageDeps, runId: string): Promise<void> {
  const run = await d.store.get(runId);
  if (!run) return void d.logger.info('the export belongs to no run of this pipeline; nothing to do');
  if (run.stage !== RunStage.EXPORTING || !run.exportTaskId || !run.exportS3Prefix)
    return void d.logger.info('the run already moved on; nothing to do', { stage: run.stage });
  const task = await d.rds.describeExportTask(run.exportTaskId);
  const status = task?.Status?.toUpperCase();
  if (!task)
    return void d.logger.warn('export task not found; the reconciler fails the run if it stays missing', {
      exportTaskId: run.exportTaskId,
    });
  if (status === 'FAILED' || status === 'CANCELED' || status === 'CANCELLED') {
    const why = `export task ${run.exportTaskId} ended ${status}${task.FailureCause ? `: ${task.FailureCause}` : ''}`;
    await finishStage(d, runId, RunStage.EXPORTING, {
      type: 'ExportFailed',
      kind: `Export${status === 'FAILED' ? 'Failed' : 'Canceled'}`,
      message: why,
    });
    return;
  }
  if (status !== 'COMPLETE') return void d.logger.info('export task still running; waiting for its end', { status });
  const { files, tables } = await readExportTablesInfo(d.s3, {
    bucket: d.settings.exportBucket,
    prefix: run.exportS3Prefix,
    expectedOwner: d.settings.accountId,
  });
  const bad = tables.filter((t) => t.status.toUpperCase() !== 'COMPLETE');
  const problems: string[] = [];
  if (files.length === 0)
    problems.push(`no export_tables_info_*.json under s3://${d.settings.exportBucket}/${run.exportS3Prefix}/`);
  if (bad.length > 0) problems.push(new ExportTablesFailed(bad).message);
  if (problems.length > 0 && d.settings.tableFailurePolicy === 'fail') {
    await finishStage(d, runId, RunStage.EXPORTING, {
      type: 'ExportFailed',
      kind: files.length === 0 ? 'ExportInfoMissing' : 'ExportTablesFailed',
      message: problems.join('; '),
    });
    return;
  }
  if (problems.length > 0) d.logger.warn('export has table problems; continuing as configured', { problems });
  d.logger.info('export complete', { tables: tables.length, warningCount: problems.length });
  await finishStage(d, runId, RunStage.EXPORTING, { type: 'ExportCompleted', warnings: problems });
}

/**
 * The runs an export event is about: the temporary snapshot's run, or the exporting runs of a source snapshot.
 * When the source snapshot has runs but none is exporting (a late or repeated event), it is about the latest
 * attempt, which then logs that it already moved on.
 */
async function runsFor(d: StageDeps, e: RdsEvent): Promise<readonly string[]> {
  const own = runIdFromTempId(d.settings.tempResourcePrefix, e.sourceId);
  if (own) return [own];
  if (!e.sourceArn) return [];
  const runs: Run[] = await d.store.findBySnapshot(e.sourceArn);
  const exporting = runs.filter((r) => r.stage === RunStage.EXPORTING).map((r) => r.runId);
  if (exporting.length > 0 || runs.length === 0) return exporting;
  return [runs.reduce((a, b) => (b.attempt > a.attempt ? b : a)).runId];
}

/** Builds the export-finished function from its dependencies. */
export function makeHandler(source: DepsSource<StageDeps>) {
  return makeRunStageHandler(source, {
    target: StageFunction.EXPORT_FINISHED,
    eventIds: EXPORT_FINISHED_EVENT_IDS,
    sourceKind: 'exported snapshot or cluster',
    runsFor,
    act: finishExport,
  });
}

/** The deployed function. */
export const handler = lambdaEntry(defaultStageDeps(StageFunction.EXPORT_FINISHED), makeHandler);
