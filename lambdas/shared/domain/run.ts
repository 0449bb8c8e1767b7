/**
 * The run: one export of one source snapshot, identified by its run id (the correlation id that names
 * and tags every temporary resource). Pure data; no AWS SDK here.
 */

/** Stages a run moves through. `CLEANING_UP` carries the outcome the run will end with. */
export const RunStage = {
  PENDING: 'PENDING',
  RESTORING: 'RESTORING',
  SNAPSHOTTING: 'SNAPSHOTTING',
  WAITING_FOR_EXPORT_SLOT: 'WAITING_FOR_EXPORT_SLOT',
  EXPORTING: 'EXPORTING',
  COPYING: 'COPYING',
  CLEANING_UP: 'CLEANING_UP',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
} as const;
export type RunStage = (typeof RunStage)[keyof typeof RunStage];

/** Stages a run never leaves. */
export const TERMINAL_STAGES: readonly RunStage[] = [RunStage.SUCCEEDED, RunStage.FAILED, RunStage.CANCELLED];

/** How the snapshot reaches S3: straight from the source snapshot, or through a temporary cluster. */
export const ExportPath = { DIRECT: 'direct', RESTORE: 'restore' } as const;
export type ExportPath = (typeof ExportPath)[keyof typeof ExportPath];

/** Names of the stage functions; the `target` message attribute on the pipeline topic uses them. */
export const StageFunction = {
  START: 'start',
  SNAPSHOT: 'snapshot',
  EXPORT: 'export',
  EXPORT_FINISHED: 'export-finished',
  COPY: 'copy',
  CLEANUP: 'cleanup',
  RECONCILE: 'reconcile',
} as const;
export type StageFunction = (typeof StageFunction)[keyof typeof StageFunction];
