/**
 * A run's export attempts and their task ids. Each attempt has its own id (`...-x<attempt>`); an attempt
 * refused for lack of a slot is followed by the next one. A delivery can, however, start the task and crash
 * before recording it, and its redelivery can then be refused for a slot rather than told the task exists:
 * the run moves on to the next attempt while the earlier task runs. So the earlier attempts of a waiting run
 * are looked up before the next one is started (by the reconciler: the stages that start exports may not
 * describe them), and a task found is adopted; the cleanup cancels every attempt's task still running.
 */
import type { ExportTask } from '@aws-sdk/client-rds';
import { RunStage, type Run } from '../domain/run';
import { exportS3PrefixFor, exportTaskIdFor } from '../domain/naming';
import { finishStage } from './finish-stage';
import type { StageDeps } from '../runtime/stage-deps';

/** Export task states in which the task still runs (and holds one of the account's export slots). */
export const RUNNING_EXPORT_STATES: readonly string[] = ['STARTING', 'IN_PROGRESS'];
/** Export task states in which the task has ended. */
export const ENDED_EXPORT_STATES: readonly string[] = ['COMPLETE', 'FAILED', 'CANCELED', 'CANCELLED'];

/**
 * How long after an attempt was refused a lookup of its task is not trusted to be complete: a task just
 * started may not be listed yet by DescribeExportTasks.
 */
export const EXPORT_TASK_LISTING_DELAY_MS = 2 * 60_000;

/**
 * Task ids of the run's attempts that may have started a task nobody recorded: every attempt up to the
 * current one, but those the reconciler already found unused, plus the recorded task.
 */
export function exportTaskIdsOf(tempResourcePrefix: string, run: Run): string[] {
  const ids: string[] = [];
  for (let attempt = (run.exportAttemptsChecked ?? 0) + 1; attempt <= run.exportAttempt; attempt++)
    ids.push(exportTaskIdFor(tempResourcePrefix, run.runId, attempt));
  if (run.exportTaskId && !ids.includes(run.exportTaskId)) ids.unshift(run.exportTaskId);
  return ids;
}

/** What {@link adoptEarlierExport} found. */
export type EarlierExport =
  /** A task of an earlier attempt exists: the run now records it and is EXPORTING. */
  | { readonly kind: 'adopted'; readonly exportTaskId: string; readonly status: string }
  /** No earlier attempt started a task: the next attempt may start. */
  | { readonly kind: 'none' }
  /** An earlier attempt was refused too recently for its lookup to be trusted: ask again later. */
  | { readonly kind: 'too-early' };

/**
 * For a run WAITING_FOR_EXPORT_SLOT: looks up the task ids of its earlier attempts not yet checked. The first
 * that exists is adopted (the run moves to EXPORTING with it, whatever its state: an ended task is then
 * finished by the export-finished stage). When none exists, the run records them as checked, so no pass looks
 * them up again and the cleanup skips them.
 */
export async function adoptEarlierExport(
  d: Pick<StageDeps, 'settings' | 'rds' | 'store' | 'publisher' | 'logger' | 'now'>,
  run: Run,
): Promise<EarlierExport> {
  const s = d.settings;
  const checked = run.exportAttemptsChecked ?? 0;
  const last = run.exportAttempt - 1;
  if (last <= checked) return { kind: 'none' };
  if (d.now().getTime() - Date.parse(run.updatedAt) < EXPORT_TASK_LISTING_DELAY_MS) return { kind: 'too-early' };
  for (let attempt = checked + 1; attempt <= last; attempt++) {
    const exportTaskId = exportTaskIdFor(s.tempResourcePrefix, run.runId, attempt);
    const task: ExportTask | undefined = await d.rds.describeExportTask(exportTaskId);
    if (!task) continue;
    const status = (task.Status ?? '').toUpperCase();
    d.logger.warn('an earlier export attempt started its task without recording it; the run adopts that task', {
      exportTaskId,
      status,
      exportAttempt: run.exportAttempt,
    });
    await finishStage(d, run.runId, RunStage.WAITING_FOR_EXPORT_SLOT, {
      type: 'ExportStarted',
      exportTaskId,
      exportS3Prefix: exportS3PrefixFor(s.exportPrefix, run.runId, exportTaskId),
      exportSourceArn: task.SourceArn ?? run.exportSourceArn ?? run.sourceSnapshotArn,
      path: run.path,
    });
    return { kind: 'adopted', exportTaskId, status };
  }
  await d.store.update(run.runId, { set: { exportAttemptsChecked: last }, ifStage: RunStage.WAITING_FOR_EXPORT_SLOT });
  return { kind: 'none' };
}
