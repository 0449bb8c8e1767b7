/**
 * The run state machine: every allowed move sits in {@link TRANSITIONS}, one row per (stages, event), and
 * {@link transition} only reads that table. Pure: no AWS SDK, no clock of its own.
 */
import { ExportPath, RunOutcome, RunStage, type CopyProgress, type Run, type RunError } from './run';

/** Names of the events that move a run. */
export const RunEventType = {
  RESTORE_STARTED: 'RestoreStarted',
  SNAPSHOT_STARTED: 'SnapshotStarted',
  EXPORT_STARTED: 'ExportStarted',
  EXPORT_SLOT_UNAVAILABLE: 'ExportSlotUnavailable',
  EXPORT_COMPLETED: 'ExportCompleted',
  EXPORT_FAILED: 'ExportFailed',
  COPY_PLANNED: 'CopyPlanned',
  COPY_SUCCEEDED: 'CopySucceeded',
  COPY_FAILED: 'CopyFailed',
  FAILED: 'Failed',
  DEADLINE_PASSED: 'DeadlinePassed',
  CANCELLED: 'Cancelled',
  CLEANUP_DONE: 'CleanupDone',
} as const;
export type RunEventType = (typeof RunEventType)[keyof typeof RunEventType];

/**
 * Temporary resources a stage deleted on its way (the export stage deletes the temporary cluster); the run
 * adds them to `cleanedUp`, so the report of a finished run names everything the run removed.
 */
export interface RemovedResources {
  readonly cleanedUp?: readonly string[];
}

/** Something that happened to a run; the payload is what the run records about it. */
export type RunEvent =
  | { readonly type: 'RestoreStarted'; readonly tempClusterId: string; readonly tempSnapshotId: string }
  | { readonly type: 'SnapshotStarted' }
  | ({
      readonly type: 'ExportStarted';
      readonly exportTaskId: string;
      readonly exportS3Prefix: string;
      readonly exportSourceArn: string;
      readonly path?: ExportPath;
    } & RemovedResources)
  | ({
      readonly type: 'ExportSlotUnavailable';
      readonly exportSourceArn: string;
      readonly path?: ExportPath;
      readonly message: string;
    } & RemovedResources)
  | { readonly type: 'ExportCompleted'; readonly warnings?: readonly string[] }
  | { readonly type: 'ExportFailed'; readonly kind: string; readonly message: string }
  | {
      readonly type: 'CopyPlanned';
      readonly objects: number;
      readonly bytes: number;
      readonly batchesTotal: number;
      readonly destinationPrefix?: string;
    }
  | {
      readonly type: 'CopySucceeded';
      readonly objects: number;
      readonly bytes: number;
      readonly destinationPrefix?: string;
      readonly manifestKey?: string;
    }
  | { readonly type: 'CopyFailed'; readonly kind: string; readonly message: string }
  | ({
      readonly type: 'Failed';
      readonly stage: RunStage;
      readonly kind: string;
      readonly message: string;
    } & RemovedResources)
  | { readonly type: 'DeadlinePassed'; readonly deadline: string }
  | { readonly type: 'Cancelled'; readonly reason?: string }
  | { readonly type: 'CleanupDone'; readonly cleanedUp: readonly string[] };

/** The event of a given type. */
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** What a transition needs besides the run and the event: the time, and the deadlines and retention in force. */
export interface TransitionContext {
  readonly now: Date;
  /** Minutes allowed per stage (RuntimeSettings.stageDeadlinesMinutes). */
  readonly deadlinesMinutes: {
    readonly restoring: number;
    readonly snapshotting: number;
    readonly waitingForExportSlot: number;
    readonly exporting: number;
    readonly copying: number;
    readonly cleaningUp: number;
  };
  /** Days a finished run stays in the table. */
  readonly retentionDays: number;
}

/** One row of the table: from these stages, on this event, go to `to`, recording what `apply` returns. */
export interface TransitionRow<T extends RunEventType = RunEventType> {
  readonly from: readonly RunStage[];
  readonly event: T;
  /** Target stage; a function when it depends on the run (e.g. the outcome carried by CLEANING_UP). */
  readonly to: RunStage | ((run: Run) => RunStage);
  /** Fields the event sets on the run besides stage, timestamps and deadline. */
  readonly apply?: (run: Run, event: RunEventOf<T>) => Partial<Run>;
  /**
   * The event happens once: it is refused when the run already has this field, and the store writes it on
   * the condition that the field is still absent (two planners of one copy must not both record a plan).
   */
  readonly unlessSet?: keyof Run;
}

const S = RunStage;
/** Stages a run can be failed, cancelled or timed out from: alive and not yet cleaning up. */
const ACTIVE: readonly RunStage[] = [
  S.PENDING,
  S.RESTORING,
  S.SNAPSHOTTING,
  S.WAITING_FOR_EXPORT_SLOT,
  S.EXPORTING,
  S.COPYING,
];
const EXPORTABLE_FROM: readonly RunStage[] = [S.PENDING, S.SNAPSHOTTING, S.WAITING_FOR_EXPORT_SLOT];

/** The run's `cleanedUp` with `removed` added, each resource once, in the order they were removed. */
function withCleanedUp(run: Run, removed: readonly string[]): string[] {
  return [...new Set([...(run.cleanedUp ?? []), ...removed])];
}

function failWith(error: RunError): Partial<Run> {
  return { outcome: RunOutcome.FAILED, error };
}

/** Types one row against its event, then widens it for the table. */
function row<T extends RunEventType>(r: TransitionRow<T>): TransitionRow {
  return r as unknown as TransitionRow;
}

/** Every transition of a run. Anything not listed is refused. */
export const TRANSITIONS: readonly TransitionRow[] = [
  row({
    from: [S.PENDING],
    event: 'RestoreStarted',
    to: S.RESTORING,
    apply: (_r, e) => ({ path: ExportPath.RESTORE, tempClusterId: e.tempClusterId, tempSnapshotId: e.tempSnapshotId }),
  }),
  row({ from: [S.RESTORING], event: 'SnapshotStarted', to: S.SNAPSHOTTING }),
  row({
    from: EXPORTABLE_FROM,
    event: 'ExportStarted',
    to: S.EXPORTING,
    apply: (r, e) => ({
      exportTaskId: e.exportTaskId,
      exportS3Prefix: e.exportS3Prefix,
      exportSourceArn: e.exportSourceArn,
      path: e.path ?? r.path,
    }),
  }),
  row({
    from: EXPORTABLE_FROM,
    event: 'ExportSlotUnavailable',
    to: S.WAITING_FOR_EXPORT_SLOT,
    // A new attempt gets a new id (ids are never reused). The refused id may still name a task, started by a
    // delivery that crashed before recording it: the reconciler looks it up before the next attempt starts.
    apply: (r, e) => ({
      exportAttempt: r.exportAttempt + 1,
      exportSourceArn: e.exportSourceArn,
      path: e.path ?? r.path,
    }),
  }),
  row({
    from: [S.EXPORTING],
    event: 'ExportCompleted',
    to: S.COPYING,
    apply: (_r, e) => (e.warnings?.length ? { warnings: e.warnings } : {}),
  }),
  row({
    from: [S.EXPORTING],
    event: 'ExportFailed',
    to: S.CLEANING_UP,
    apply: (_r, e) => failWith({ stage: S.EXPORTING, kind: e.kind, message: e.message }),
  }),
  row({
    from: [S.COPYING],
    event: 'CopyPlanned',
    to: S.COPYING,
    // Workers add to the counters once the plan is recorded; a second plan would reset them.
    unlessSet: 'copy',
    apply: (_r, e) => ({
      copy: {
        objects: e.objects,
        bytes: e.bytes,
        batchesTotal: e.batchesTotal,
        batchesDone: 0,
        objectsCopied: 0,
        bytesCopied: 0,
      },
      ...(e.destinationPrefix ? { destinationPrefix: e.destinationPrefix } : {}),
    }),
  }),
  row({
    from: [S.COPYING],
    event: 'CopySucceeded',
    to: S.CLEANING_UP,
    apply: (r, e) => {
      const copy: CopyProgress = {
        objects: e.objects,
        bytes: e.bytes,
        batchesTotal: r.copy?.batchesTotal ?? 1,
        batchesDone: r.copy?.batchesTotal ?? 1,
        objectsCopied: e.objects,
        bytesCopied: e.bytes,
        ...(e.manifestKey ? { manifestKey: e.manifestKey } : {}),
      };
      return {
        outcome: RunOutcome.SUCCEEDED,
        copy,
        ...(e.destinationPrefix ? { destinationPrefix: e.destinationPrefix } : {}),
      };
    },
  }),
  row({
    from: [S.COPYING],
    event: 'CopyFailed',
    to: S.CLEANING_UP,
    apply: (_r, e) => failWith({ stage: S.COPYING, kind: e.kind, message: e.message }),
  }),
  row({
    from: ACTIVE,
    event: 'Failed',
    to: S.CLEANING_UP,
    apply: (_r, e) => failWith({ stage: e.stage, kind: e.kind, message: e.message }),
  }),
  row({
    from: ACTIVE,
    event: 'DeadlinePassed',
    to: S.CLEANING_UP,
    apply: (r, e) =>
      failWith({
        stage: r.stage,
        kind: 'DeadlinePassed',
        message: `stage ${r.stage} did not finish by its deadline ${e.deadline}`,
      }),
  }),
  row({
    from: ACTIVE,
    event: 'Cancelled',
    to: S.CLEANING_UP,
    apply: (r, e) => ({
      outcome: RunOutcome.CANCELLED,
      error: { stage: r.stage, kind: 'Cancelled', message: e.reason ?? 'cancelled by an operator' },
    }),
  }),
  // A finished run always has its `cleanedUp`, empty when there was nothing to delete, and waits for nothing.
  row({
    from: [S.CLEANING_UP],
    event: 'CleanupDone',
    to: (r) => r.outcome ?? S.FAILED,
    apply: (r, e) => ({ cleanedUp: withCleanedUp(r, e.cleanedUp), cleanupWaitingFor: undefined }),
  }),
];

/**
 * Which deadline applies in each stage. PENDING shares the restoring deadline (it only lasts until the
 * restore or export call); terminal stages have none.
 */
const DEADLINE_OF_STAGE: Readonly<Partial<Record<RunStage, keyof TransitionContext['deadlinesMinutes']>>> = {
  [S.PENDING]: 'restoring',
  [S.RESTORING]: 'restoring',
  [S.SNAPSHOTTING]: 'snapshotting',
  [S.WAITING_FOR_EXPORT_SLOT]: 'waitingForExportSlot',
  [S.EXPORTING]: 'exporting',
  [S.COPYING]: 'copying',
  [S.CLEANING_UP]: 'cleaningUp',
};

/** Deadline minutes of a stage, or undefined for stages without one. */
export function stageDeadlineMinutes(stage: RunStage, d: TransitionContext['deadlinesMinutes']): number | undefined {
  const key = DEADLINE_OF_STAGE[stage];
  return key === undefined ? undefined : d[key];
}

/** Finds the row that allows `event` from `stage`, if any. */
export function findTransition(stage: RunStage, event: RunEventType): TransitionRow | undefined {
  return TRANSITIONS.find((r) => r.event === event && r.from.includes(stage));
}

/** A move the table does not allow; the store turns it into a StaleTransition. */
export class TransitionNotAllowed extends Error {
  public override readonly name = 'TransitionNotAllowed';
  constructor(
    public readonly from: RunStage,
    public readonly event: RunEventType,
    detail?: string,
  ) {
    super(`a run in ${from} cannot take ${event}${detail ? ` ${detail}` : ''}`);
  }
}

/** What the event removed, recorded on the run (see {@link RemovedResources}). */
function withRemoved(run: Run, event: RunEvent): Partial<Run> {
  const removed = (event as RemovedResources).cleanedUp;
  return removed?.length ? { cleanedUp: withCleanedUp(run, removed) } : {};
}

/**
 * Applies `event` to `run` and returns the next run; throws {@link TransitionNotAllowed} when the table has
 * no row for it. Entering a stage stamps `stageEnteredAt` and sets the stage deadline; staying in a stage
 * keeps both. A terminal stage gets its expiry (TTL) and loses its deadline. Resources an event removed
 * ({@link RemovedResources}) are added to `cleanedUp`.
 */
export function transition(run: Run, event: RunEvent, ctx: TransitionContext): Run {
  const r = findTransition(run.stage, event.type);
  if (!r) throw new TransitionNotAllowed(run.stage, event.type);
  if (r.unlessSet && run[r.unlessSet] !== undefined)
    throw new TransitionNotAllowed(run.stage, event.type, `again: it already has ${r.unlessSet}`);
  const to = typeof r.to === 'function' ? r.to(run) : r.to;
  const now = ctx.now.toISOString();
  const fields = r.apply ? (r.apply as (run: Run, e: RunEvent) => Partial<Run>)(run, event) : {};
  const next: Run = { ...run, ...fields, ...withRemoved(run, event), stage: to, updatedAt: now };
  if (to === run.stage) return next;
  const minutes = stageDeadlineMinutes(to, ctx.deadlinesMinutes);
  const terminal = to === S.SUCCEEDED || to === S.FAILED || to === S.CANCELLED;
  const result: Run = {
    ...next,
    stageEnteredAt: { ...run.stageEnteredAt, [to]: now },
    deadline: minutes === undefined ? undefined : new Date(ctx.now.getTime() + minutes * 60_000).toISOString(),
    ...(terminal
      ? { outcome: undefined, expiresAt: Math.floor(ctx.now.getTime() / 1000) + ctx.retentionDays * 86_400 }
      : {}),
  };
  return result;
}
