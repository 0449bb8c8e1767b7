/**
 * Starting a run's export, shared by the start stage (direct path) and the export stage (restore path,
 * and retries of runs waiting for an export slot).
 */
import type { ExportPath, Run } from '../domain/run';
import { exportS3PrefixFor, exportTaskIdFor, exportTaskS3Prefix } from '../domain/naming';
import { isExportSlotUnavailable } from '../adapters/rds';
import { errorMessage, errorName, isPermanentAwsError, isTransientAwsFault } from '../errors';
import { finishStage } from './finish-stage';
import type { StageDeps } from '../runtime/stage-deps';

/** How {@link startRunExport} is asked to start an export. */
export interface StartRunExportOptions {
  /** True for an error that means RDS cannot export the snapshot directly: the caller handles it and the run is left unchanged. */
  readonly onUnsupported?: (e: unknown) => boolean;
  /** Temporary resources the caller deleted before the export; the run records them whatever the outcome. */
  readonly cleanedUp?: readonly string[];
}

/**
 * Starts the export of `sourceArn` for `run` (in PENDING, SNAPSHOTTING or WAITING_FOR_EXPORT_SLOT) and moves
 * the run: EXPORTING when the task started (or an earlier delivery had started it), WAITING_FOR_EXPORT_SLOT
 * when the account has no free export slot, CLEANING_UP (failed) on a permanent refusal. Other errors
 * (throttling, server faults) are thrown for a retry.
 */
export async function startRunExport(
  d: Pick<StageDeps, 'settings' | 'rds' | 'store' | 'publisher' | 'logger'>,
  run: Run,
  sourceArn: string,
  path: ExportPath,
  options: StartRunExportOptions = {},
): Promise<Run | undefined> {
  const { onUnsupported, cleanedUp } = options;
  const s = d.settings;
  const cluster = s.sourceClusters.find((c) => c.identifier.toLowerCase() === run.sourceClusterId.toLowerCase());
  const exportTaskId = exportTaskIdFor(s.tempResourcePrefix, run.runId, run.exportAttempt);
  try {
    const result = await d.rds.startExportTask({
      ExportTaskIdentifier: exportTaskId,
      SourceArn: sourceArn,
      S3BucketName: s.exportBucket,
      S3Prefix: exportTaskS3Prefix(s.exportPrefix, run.runId),
      IamRoleArn: s.exportRoleArn,
      KmsKeyId: s.exportKmsKeyArn,
      ...(cluster?.exportOnly.length ? { ExportOnly: cluster.exportOnly } : {}),
    });
    d.logger.info(result === 'created' ? 'export task started' : 'export task already started', {
      exportTaskId,
      sourceArn,
    });
  } catch (e) {
    if (isExportSlotUnavailable(e)) {
      d.logger.info('no free export slot; the run waits and the reconciler retries', {
        exportTaskId,
        error: errorMessage(e),
      });
      return finishStage(d, run.runId, run.stage, {
        type: 'ExportSlotUnavailable',
        exportSourceArn: sourceArn,
        path,
        message: errorMessage(e),
        cleanedUp,
      });
    }
    if (onUnsupported?.(e)) return undefined;
    if (isTransientAwsFault(e)) {
      d.logger.warn('RDS cannot start the export now; the run stays where it is and the reconciler advances it', {
        exportTaskId,
        error: errorName(e),
        message: errorMessage(e),
      });
      return run;
    }
    if (isPermanentAwsError(e)) {
      return finishStage(d, run.runId, run.stage, {
        type: 'Failed',
        stage: run.stage,
        kind: errorName(e),
        message: `StartExportTask ${exportTaskId} refused: ${errorMessage(e)}`,
        cleanedUp,
      });
    }
    throw e;
  }
  return finishStage(d, run.runId, run.stage, {
    type: 'ExportStarted',
    exportTaskId,
    exportS3Prefix: exportS3PrefixFor(s.exportPrefix, run.runId, exportTaskId),
    exportSourceArn: sourceArn,
    path,
    cleanedUp,
  });
}
