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

/** Every stage, in pipeline order. */
export const STAGES_IN_ORDER: readonly RunStage[] = Object.values(RunStage);

/** Stages a run never leaves. */
export const TERMINAL_STAGES: readonly RunStage[] = [RunStage.SUCCEEDED, RunStage.FAILED, RunStage.CANCELLED];

/** Stages of a run still in progress, in pipeline order. */
export const OPEN_STAGES: readonly RunStage[] = STAGES_IN_ORDER.filter((s) => !TERMINAL_STAGES.includes(s));

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

/** How a run ends; a run in `CLEANING_UP` carries the one it will reach once its resources are gone. */
export const RunOutcome = { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', CANCELLED: 'CANCELLED' } as const;
export type RunOutcome = (typeof RunOutcome)[keyof typeof RunOutcome];

/** What went wrong, where: `kind` is a short machine-readable class (an error name), `message` is for humans. */
export interface RunError {
  readonly stage: RunStage;
  readonly kind: string;
  readonly message: string;
}

/**
 * Progress of the copy stage. The planner sets the totals; workers add to the `*Copied` counters and
 * `batchesDone`. All counters are numbers so the store can `ADD` to them atomically.
 */
export interface CopyProgress {
  /** Objects found under the export prefix. */
  readonly objects: number;
  /** Bytes found under the export prefix. */
  readonly bytes: number;
  /** Batches the copy was split into. */
  readonly batchesTotal: number;
  /** Batches recorded as done. */
  readonly batchesDone: number;
  /** Objects copied so far. */
  readonly objectsCopied: number;
  /** Bytes copied so far. */
  readonly bytesCopied: number;
  /** Key of the manifest at the destination, once written. */
  readonly manifestKey?: string;
}

/**
 * One export of one source snapshot. The run id is the correlation id: derived deterministically from the
 * source snapshot id (and the attempt), it names and tags every temporary resource, so any RDS event's
 * `Source ID` leads back to its run. Timestamps are ISO-8601 UTC strings.
 */
export interface Run {
  /** Correlation id; `<tempResourcePrefix><runId>` names the temporary cluster and snapshot. */
  readonly runId: string;
  /** 1 for the first run of a snapshot; an explicit retry creates a new run with the next attempt. */
  readonly attempt: number;
  /** Configured source cluster the snapshot belongs to (as RDS reports it, not from the snapshot's name). */
  readonly sourceClusterId: string;
  /** Source snapshot identifier, e.g. `rds:orders-2024-05-15-09-10`. */
  readonly sourceSnapshotId: string;
  /** Source snapshot ARN; the `bySourceSnapshot` index key. */
  readonly sourceSnapshotArn: string;
  /** When RDS created the source snapshot; the destination date derives from it. */
  readonly sourceSnapshotCreatedAt?: string;
  /** Direct export, or restore to a temporary cluster first. */
  readonly path: ExportPath;
  readonly stage: RunStage;
  /** Only while `CLEANING_UP`: the terminal stage the run reaches when cleanup is done. */
  readonly outcome?: RunOutcome;
  /** Temporary cluster (restore path), `<tempResourcePrefix><runId>`. */
  readonly tempClusterId?: string;
  /** Temporary manual cluster snapshot (restore path), `<tempResourcePrefix><runId>`. */
  readonly tempSnapshotId?: string;
  /** ARN of what is exported: the source snapshot (direct) or the temporary snapshot (restore). */
  readonly exportSourceArn?: string;
  /** Export task id of the current export attempt (unique per attempt, never reused). */
  readonly exportTaskId?: string;
  /** Export attempt counter: bumped each time the export could not start for lack of a slot. */
  readonly exportAttempt: number;
  /**
   * Export attempts, from the first up to this one, whose task id the reconciler looked up and found unused
   * (a delivery can start a task and crash before recording it): none of them has a task to adopt or cancel.
   */
  readonly exportAttemptsChecked?: number;
  /** Key prefix of the export in the export bucket: `<exportPrefix>/<runId>/<exportTaskId>`. */
  readonly exportS3Prefix?: string;
  /** Table-level problems tolerated under `tableFailurePolicy: warn`. */
  readonly warnings?: readonly string[];
  /** When the run entered each stage it went through. */
  readonly stageEnteredAt: Partial<Record<RunStage, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** When the current stage must be over; the reconciler fails the run (and cleans up) after it. */
  readonly deadline?: string;
  readonly error?: RunError;
  readonly copy?: CopyProgress;
  /** Key prefix the run's objects were delivered under at the destination. */
  readonly destinationPrefix?: string;
  /**
   * The operator retried with `--reuse-destination`: the client removed what an earlier attempt of the
   * snapshot left under the destination prefix, so this run may deliver there.
   */
  readonly reuseDestination?: boolean;
  /**
   * Temporary resources the run removed, e.g. `cluster:<id>`: the cluster the export stage deleted, and
   * what the cleanup deleted or found already gone after the run had made it. Empty once a run that
   * created nothing is finished; absent while nothing was removed yet.
   */
  readonly cleanedUp?: readonly string[];
  /**
   * Only while `CLEANING_UP`: temporary resources the cleanup could not delete yet, each with the reason (a
   * snapshot still being created, or held by an export being cancelled). The reconciler sends the cleanup
   * again until they are gone.
   */
  readonly cleanupWaitingFor?: readonly string[];
  /** When the alert of the finished run was published; until then the reconciler sends it again. */
  readonly alertSentAt?: string;
  /** How many times the reconciler sent the alert again (capped, so a broken table never floods the topic). */
  readonly alertRedeliveries?: number;
  /** Epoch seconds after which DynamoDB removes the finished run (TTL). */
  readonly expiresAt?: number;
}

/** True when the run can no longer change. */
export function isTerminal(stage: RunStage): boolean {
  return TERMINAL_STAGES.includes(stage);
}

/** What a new run is made from. */
export interface NewRunInput
  extends Pick<
    Run,
    | 'runId'
    | 'attempt'
    | 'sourceClusterId'
    | 'sourceSnapshotId'
    | 'sourceSnapshotArn'
    | 'sourceSnapshotCreatedAt'
    | 'reuseDestination'
  > {
  /** The path the configuration and the snapshot suggest; the start stage may still fall back to restore. */
  readonly path: ExportPath;
  readonly now: Date;
  /** Minutes the run may stay PENDING. */
  readonly pendingDeadlineMinutes: number;
}

/** A run as recorded when a snapshot's export is first started: PENDING, nothing created yet. */
export function newRun(input: NewRunInput): Run {
  const now = input.now.toISOString();
  return {
    runId: input.runId,
    attempt: input.attempt,
    sourceClusterId: input.sourceClusterId,
    sourceSnapshotId: input.sourceSnapshotId,
    sourceSnapshotArn: input.sourceSnapshotArn,
    ...(input.sourceSnapshotCreatedAt ? { sourceSnapshotCreatedAt: input.sourceSnapshotCreatedAt } : {}),
    ...(input.reuseDestination ? { reuseDestination: true } : {}),
    path: input.path,
    stage: RunStage.PENDING,
    exportAttempt: 1,
    stageEnteredAt: { [RunStage.PENDING]: now },
    createdAt: now,
    updatedAt: now,
    deadline: new Date(input.now.getTime() + input.pendingDeadlineMinutes * 60_000).toISOString(),
  };
}
