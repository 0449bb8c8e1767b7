import {
  ExportPath,
  OPEN_STAGES,
  RunStage,
  TERMINAL_STAGES,
  isTerminal,
  newRun,
  type Run,
} from '../../../../lambdas/shared/domain/run';
import {
  TRANSITIONS,
  TransitionNotAllowed,
  findTransition,
  stageDeadlineMinutes,
  transition,
  type RunEvent,
  type RunEventType,
  type TransitionContext,
} from '../../../../lambdas/shared/domain/transitions';
import { DEFAULT_STAGE_DEADLINES } from '../../../../config/schema';

const ctx: TransitionContext = {
  now: new Date('2026-05-15T10:00:00.000Z'),
  deadlinesMinutes: DEFAULT_STAGE_DEADLINES,
  retentionDays: 30,
};

const SAMPLE: Record<RunEventType, RunEvent> = {
  RestoreStarted: { type: 'RestoreStarted', tempClusterId: 'p-tmp-r', tempSnapshotId: 'p-tmp-r' },
  SnapshotStarted: { type: 'SnapshotStarted' },
  ExportStarted: {
    type: 'ExportStarted',
    exportTaskId: 'p-tmp-r-x1',
    exportS3Prefix: 'exports/r/p-tmp-r-x1',
    exportSourceArn: 'arn:snap',
  },
  ExportSlotUnavailable: { type: 'ExportSlotUnavailable', exportSourceArn: 'arn:snap', message: 'limit' },
  ExportCompleted: { type: 'ExportCompleted' },
  ExportFailed: { type: 'ExportFailed', kind: 'ExportFailed', message: 'boom' },
  CopyPlanned: { type: 'CopyPlanned', objects: 10, bytes: 100, batchesTotal: 2, destinationPrefix: 'lake/x' },
  CopySucceeded: { type: 'CopySucceeded', objects: 10, bytes: 100 },
  CopyFailed: { type: 'CopyFailed', kind: 'AccessDenied', message: 'denied' },
  Failed: { type: 'Failed', stage: RunStage.RESTORING, kind: 'X', message: 'failed' },
  DeadlinePassed: { type: 'DeadlinePassed', deadline: '2026-05-15T09:00:00.000Z' },
  Cancelled: { type: 'Cancelled' },
  CleanupDone: { type: 'CleanupDone', cleanedUp: ['cluster:p-tmp-r'] },
};

function runIn(stage: RunStage, extra: Partial<Run> = {}): Run {
  const base = newRun({
    runId: 'r',
    attempt: 1,
    sourceClusterId: 'c',
    sourceSnapshotId: 's',
    sourceSnapshotArn: 'arn:s',
    path: ExportPath.DIRECT,
    now: new Date('2026-05-15T09:00:00.000Z'),
    pendingDeadlineMinutes: 60,
  });
  return { ...base, stage, ...extra };
}

const ALL_STAGES = Object.values(RunStage);

describe('Module: transitions', () => {
  describe('Table: TRANSITIONS', () => {
    it.each(TRANSITIONS.flatMap((row) => row.from.map((from) => [from, row.event, row] as const)))(
      'moves a run in %s on %s as its row says',
      (from, event, row) => {
        const run = runIn(from, from === RunStage.CLEANING_UP ? { outcome: 'SUCCEEDED' } : {});
        const next = transition(run, SAMPLE[event], ctx);
        const expected = typeof row.to === 'function' ? row.to(run) : row.to;
        expect(next.stage).toBe(expected);
        expect(next.updatedAt).toBe(ctx.now.toISOString());
        if (expected !== from) expect(next.stageEnteredAt[expected]).toBe(ctx.now.toISOString());
      },
    );

    it('has no two rows for the same stage and event', () => {
      const pairs = TRANSITIONS.flatMap((r) => r.from.map((f) => `${f}/${r.event}`));
      expect(new Set(pairs).size).toBe(pairs.length);
    });

    it('never moves a run out of a terminal stage', () => {
      for (const stage of [RunStage.SUCCEEDED, RunStage.FAILED, RunStage.CANCELLED]) {
        for (const event of Object.values(SAMPLE))
          expect(() => transition(runIn(stage), event, ctx)).toThrow(TransitionNotAllowed);
      }
    });

    it('refuses every pair the table does not list', () => {
      for (const stage of ALL_STAGES) {
        for (const event of Object.values(SAMPLE)) {
          const listed = TRANSITIONS.some((r) => r.event === event.type && r.from.includes(stage));
          if (!listed)
            expect(() => transition(runIn(stage), event, ctx)).toThrow(`a run in ${stage} cannot take ${event.type}`);
        }
      }
    });
  });

  describe('Function: transition', () => {
    it('sets the deadline of the stage it enters', () => {
      const next = transition(runIn(RunStage.PENDING), SAMPLE.RestoreStarted, ctx);
      expect(next.deadline).toBe('2026-05-15T12:00:00.000Z');
      expect(next).toMatchObject({ path: 'restore', tempClusterId: 'p-tmp-r', tempSnapshotId: 'p-tmp-r' });
    });

    it('keeps the deadline while waiting again for an export slot, and moves to a new export attempt', () => {
      const waiting = transition(runIn(RunStage.PENDING), SAMPLE.ExportSlotUnavailable, ctx);
      const again = transition(waiting, SAMPLE.ExportSlotUnavailable, {
        ...ctx,
        now: new Date('2026-05-15T11:00:00.000Z'),
      });
      expect(again.deadline).toBe(waiting.deadline);
      expect([waiting.exportAttempt, again.exportAttempt]).toEqual([2, 3]);
    });

    it('carries the outcome through CLEANING_UP to the terminal stage, with an expiry', () => {
      const cleaning = transition(runIn(RunStage.COPYING), SAMPLE.CopyFailed, ctx);
      expect(cleaning).toMatchObject({
        stage: 'CLEANING_UP',
        outcome: 'FAILED',
        error: { stage: 'COPYING', kind: 'AccessDenied', message: 'denied' },
      });
      const done = transition(cleaning, SAMPLE.CleanupDone, ctx);
      expect(done).toMatchObject({ stage: 'FAILED', cleanedUp: ['cluster:p-tmp-r'], deadline: undefined });
      expect(done.expiresAt).toBe(Math.floor(ctx.now.getTime() / 1000) + 30 * 86_400);
    });

    it('keeps what earlier stages removed in cleanedUp and adds what the cleanup removed, each once', () => {
      const exporting = transition(
        runIn(RunStage.SNAPSHOTTING),
        { ...SAMPLE.ExportStarted, cleanedUp: ['cluster:p-tmp-r'] } as RunEvent,
        ctx,
      );
      expect(exporting.cleanedUp).toEqual(['cluster:p-tmp-r']);
      expect(
        transition(runIn(RunStage.SNAPSHOTTING), { ...SAMPLE.ExportStarted, cleanedUp: [] } as RunEvent, ctx).cleanedUp,
      ).toBeUndefined();
      const failed = transition(exporting, SAMPLE.ExportFailed, ctx);
      const done = transition(
        failed,
        { type: 'CleanupDone', cleanedUp: ['cluster-snapshot:p-tmp-r', 'cluster:p-tmp-r'] },
        ctx,
      );
      expect(done.cleanedUp).toEqual(['cluster:p-tmp-r', 'cluster-snapshot:p-tmp-r']);
      expect(
        transition({ ...failed, cleanedUp: undefined }, { type: 'CleanupDone', cleanedUp: [] }, ctx).cleanedUp,
      ).toEqual([]);
    });

    it('records a cancellation as its own outcome', () => {
      const cleaning = transition(runIn(RunStage.EXPORTING), { type: 'Cancelled', reason: 'operator' }, ctx);
      expect(transition(cleaning, SAMPLE.CleanupDone, ctx).stage).toBe('CANCELLED');
    });

    it('refuses a second copy plan, which would reset the counters the workers add to', () => {
      const planned = transition(runIn(RunStage.COPYING), SAMPLE.CopyPlanned, ctx);
      expect(planned.copy).toMatchObject({ batchesTotal: 2, batchesDone: 0 });
      expect(() => transition(planned, SAMPLE.CopyPlanned, ctx)).toThrow(TransitionNotAllowed);
    });

    it('names the stage a deadline was missed in', () => {
      const next = transition(runIn(RunStage.SNAPSHOTTING), SAMPLE.DeadlinePassed, ctx);
      expect(next.error).toMatchObject({ stage: 'SNAPSHOTTING', kind: 'DeadlinePassed' });
    });
  });

  describe('Function: transition, what a failure records', () => {
    it('records an export failure as outcome FAILED with the error of the EXPORTING stage', () => {
      const next = transition(runIn(RunStage.EXPORTING), SAMPLE.ExportFailed, ctx);
      expect(next.stage).toBe('CLEANING_UP');
      expect(next.outcome).toBe('FAILED');
      expect(next.error).toEqual({ stage: 'EXPORTING', kind: 'ExportFailed', message: 'boom' });
    });

    it('records a copy failure as outcome FAILED with the error of the COPYING stage', () => {
      const next = transition(runIn(RunStage.COPYING), SAMPLE.CopyFailed, ctx);
      expect(next.outcome).toBe('FAILED');
      expect(next.error).toEqual({ stage: 'COPYING', kind: 'AccessDenied', message: 'denied' });
    });

    it('records a failure with the stage, kind and message the event names, not the stage the run is in', () => {
      const next = transition(
        runIn(RunStage.EXPORTING),
        { type: 'Failed', stage: RunStage.SNAPSHOTTING, kind: 'SnapshotGone', message: 'snapshot deleted' },
        ctx,
      );
      expect(next.outcome).toBe('FAILED');
      expect(next.error).toEqual({ stage: 'SNAPSHOTTING', kind: 'SnapshotGone', message: 'snapshot deleted' });
    });

    it('records a missed deadline as a FAILED outcome naming the stage and the deadline', () => {
      const next = transition(runIn(RunStage.COPYING), SAMPLE.DeadlinePassed, ctx);
      expect(next.outcome).toBe('FAILED');
      expect(next.error).toEqual({
        stage: 'COPYING',
        kind: 'DeadlinePassed',
        message: 'stage COPYING did not finish by its deadline 2026-05-15T09:00:00.000Z',
      });
    });

    it("records a cancellation as outcome CANCELLED with the operator's reason", () => {
      const next = transition(runIn(RunStage.RESTORING), { type: 'Cancelled', reason: 'wrong snapshot' }, ctx);
      expect(next.outcome).toBe('CANCELLED');
      expect(next.error).toEqual({ stage: 'RESTORING', kind: 'Cancelled', message: 'wrong snapshot' });
    });

    it('says an operator cancelled the run when the cancellation gives no reason', () => {
      const next = transition(runIn(RunStage.PENDING), SAMPLE.Cancelled, ctx);
      expect(next.error).toEqual({ stage: 'PENDING', kind: 'Cancelled', message: 'cancelled by an operator' });
    });

    it('adds what a failing stage removed on its way to cleanedUp', () => {
      const next = transition(
        runIn(RunStage.EXPORTING, { cleanedUp: ['cluster:p-tmp-r'] }),
        { ...SAMPLE.Failed, cleanedUp: ['cluster-snapshot:p-tmp-r'] } as RunEvent,
        ctx,
      );
      expect(next.cleanedUp).toEqual(['cluster:p-tmp-r', 'cluster-snapshot:p-tmp-r']);
    });
  });

  describe('Function: transition, finishing a run', () => {
    const expiry = Math.floor(ctx.now.getTime() / 1000) + 30 * 86_400;

    it('ends a run whose copy succeeded in SUCCEEDED, with an expiry, no deadline and no pending outcome', () => {
      const cleaning = transition(runIn(RunStage.COPYING), SAMPLE.CopySucceeded, ctx);
      expect(cleaning).toMatchObject({ stage: 'CLEANING_UP', outcome: 'SUCCEEDED' });
      expect(cleaning.error).toBeUndefined();
      expect(cleaning.expiresAt).toBeUndefined();
      const done = transition(cleaning, SAMPLE.CleanupDone, ctx);
      expect(done.stage).toBe('SUCCEEDED');
      expect(done.expiresAt).toBe(expiry);
      expect(done.deadline).toBeUndefined();
      expect(done.outcome).toBeUndefined();
      expect(done.stageEnteredAt.SUCCEEDED).toBe(ctx.now.toISOString());
    });

    it('ends a cancelled run in CANCELLED, with an expiry and no deadline', () => {
      const cleaning = transition(runIn(RunStage.EXPORTING), SAMPLE.Cancelled, ctx);
      const done = transition(cleaning, SAMPLE.CleanupDone, ctx);
      expect(done.stage).toBe('CANCELLED');
      expect(done.expiresAt).toBe(expiry);
      expect(done.deadline).toBeUndefined();
      expect(done.outcome).toBeUndefined();
    });

    it('counts the expiry in whole seconds from the moment the run finished, for the retention in force', () => {
      const cleaning = transition(runIn(RunStage.EXPORTING), SAMPLE.Cancelled, ctx);
      const now = new Date('2026-05-16T00:00:00.999Z');
      const done = transition(cleaning, SAMPLE.CleanupDone, { ...ctx, now, retentionDays: 7 });
      expect(done.expiresAt).toBe(Date.parse('2026-05-23T00:00:00.000Z') / 1000);
    });

    it('ends a run in FAILED when CLEANING_UP carries no outcome', () => {
      const done = transition(runIn(RunStage.CLEANING_UP), SAMPLE.CleanupDone, ctx);
      expect(done.stage).toBe('FAILED');
    });

    it('stops waiting for resources once the cleanup is done', () => {
      const done = transition(
        runIn(RunStage.CLEANING_UP, { outcome: 'FAILED', cleanupWaitingFor: ['cluster-snapshot:p-tmp-r (creating)'] }),
        SAMPLE.CleanupDone,
        ctx,
      );
      expect(done.cleanupWaitingFor).toBeUndefined();
    });

    it('gives no expiry to a run that moves to a stage still in progress', () => {
      expect(transition(runIn(RunStage.EXPORTING), SAMPLE.ExportCompleted, ctx).expiresAt).toBeUndefined();
    });
  });

  describe('Function: transition, stage deadlines', () => {
    // Distinct minutes per stage, so a stage reading another stage's deadline shows.
    const distinct: TransitionContext = {
      ...ctx,
      deadlinesMinutes: {
        restoring: 11,
        snapshotting: 22,
        waitingForExportSlot: 33,
        exporting: 44,
        copying: 55,
        cleaningUp: 66,
      },
    };
    const after = (minutes: number) => new Date(ctx.now.getTime() + minutes * 60_000).toISOString();

    it.each([
      [RunStage.PENDING, 'RestoreStarted', RunStage.RESTORING, 11],
      [RunStage.RESTORING, 'SnapshotStarted', RunStage.SNAPSHOTTING, 22],
      [RunStage.PENDING, 'ExportSlotUnavailable', RunStage.WAITING_FOR_EXPORT_SLOT, 33],
      [RunStage.SNAPSHOTTING, 'ExportStarted', RunStage.EXPORTING, 44],
      [RunStage.EXPORTING, 'ExportCompleted', RunStage.COPYING, 55],
      [RunStage.COPYING, 'CopyFailed', RunStage.CLEANING_UP, 66],
    ] as const)('gives a run in %s taking %s the deadline of %s, the stage it enters', (from, event, to, minutes) => {
      const next = transition(runIn(from), SAMPLE[event], distinct);
      expect(next.stage).toBe(to);
      expect(next.deadline).toBe(after(minutes));
    });

    it('keeps the deadline and the entry time of a stage the run stays in', () => {
      const copying = transition(runIn(RunStage.EXPORTING), SAMPLE.ExportCompleted, distinct);
      const later = { ...distinct, now: new Date('2026-05-15T10:30:00.000Z') };
      const planned = transition(copying, SAMPLE.CopyPlanned, later);
      expect(planned.deadline).toBe(copying.deadline);
      expect(planned.stageEnteredAt).toEqual(copying.stageEnteredAt);
      expect(planned.updatedAt).toBe('2026-05-15T10:30:00.000Z');
    });

    it("maps every stage to its deadline setting; PENDING shares RESTORING's and terminal stages have none", () => {
      const d = distinct.deadlinesMinutes;
      expect(
        Object.fromEntries(Object.values(RunStage).map((stage) => [stage, stageDeadlineMinutes(stage, d)])),
      ).toEqual({
        PENDING: 11,
        RESTORING: 11,
        SNAPSHOTTING: 22,
        WAITING_FOR_EXPORT_SLOT: 33,
        EXPORTING: 44,
        COPYING: 55,
        CLEANING_UP: 66,
        SUCCEEDED: undefined,
        FAILED: undefined,
        CANCELLED: undefined,
      });
    });
  });

  describe('Function: transition, what each step records', () => {
    it('moves a restoring run to SNAPSHOTTING, keeping when it entered each stage before', () => {
      const restoring = transition(runIn(RunStage.PENDING), SAMPLE.RestoreStarted, ctx);
      const later = { ...ctx, now: new Date('2026-05-15T10:45:00.000Z') };
      const snapshotting = transition(restoring, SAMPLE.SnapshotStarted, later);
      expect(snapshotting.stage).toBe('SNAPSHOTTING');
      expect(snapshotting.stageEnteredAt).toEqual({
        PENDING: '2026-05-15T09:00:00.000Z',
        RESTORING: '2026-05-15T10:00:00.000Z',
        SNAPSHOTTING: '2026-05-15T10:45:00.000Z',
      });
      expect(snapshotting.deadline).toBe('2026-05-15T12:45:00.000Z');
      expect(snapshotting).toMatchObject({ path: 'restore', tempClusterId: 'p-tmp-r', tempSnapshotId: 'p-tmp-r' });
    });

    it('records the export task, its prefix and what it exports, keeping the path unless the event names one', () => {
      const direct = transition(runIn(RunStage.PENDING), SAMPLE.ExportStarted, ctx);
      expect(direct).toMatchObject({
        exportTaskId: 'p-tmp-r-x1',
        exportS3Prefix: 'exports/r/p-tmp-r-x1',
        exportSourceArn: 'arn:snap',
        path: 'direct',
      });
      const fellBack = transition(
        runIn(RunStage.PENDING),
        { ...SAMPLE.ExportStarted, path: ExportPath.RESTORE } as RunEvent,
        ctx,
      );
      expect(fellBack.path).toBe('restore');
    });

    it('records what a refused export would export and the path it takes', () => {
      const waiting = transition(
        runIn(RunStage.PENDING),
        { ...SAMPLE.ExportSlotUnavailable, exportSourceArn: 'arn:other', path: ExportPath.RESTORE } as RunEvent,
        ctx,
      );
      expect(waiting).toMatchObject({ exportSourceArn: 'arn:other', path: 'restore', exportAttempt: 2 });
      expect(transition(runIn(RunStage.PENDING), SAMPLE.ExportSlotUnavailable, ctx).path).toBe('direct');
    });

    it("keeps the export's table warnings, and records none when it reported none", () => {
      const warned = transition(
        runIn(RunStage.EXPORTING),
        { type: 'ExportCompleted', warnings: ['table a.b.c failed'] },
        ctx,
      );
      expect(warned.warnings).toEqual(['table a.b.c failed']);
      expect(transition(runIn(RunStage.EXPORTING), { type: 'ExportCompleted', warnings: [] }, ctx)).not.toHaveProperty(
        'warnings',
      );
    });

    it('records the copy plan with zeroed counters and the destination prefix', () => {
      const planned = transition(runIn(RunStage.COPYING), SAMPLE.CopyPlanned, ctx);
      expect(planned.copy).toEqual({
        objects: 10,
        bytes: 100,
        batchesTotal: 2,
        batchesDone: 0,
        objectsCopied: 0,
        bytesCopied: 0,
      });
      expect(planned.destinationPrefix).toBe('lake/x');
      const unnamed = transition(
        runIn(RunStage.COPYING),
        { ...SAMPLE.CopyPlanned, destinationPrefix: '' } as RunEvent,
        ctx,
      );
      expect(unnamed).not.toHaveProperty('destinationPrefix');
    });

    it('says why a second copy plan is refused', () => {
      const planned = transition(runIn(RunStage.COPYING), SAMPLE.CopyPlanned, ctx);
      expect(() => transition(planned, SAMPLE.CopyPlanned, ctx)).toThrow(
        'a run in COPYING cannot take CopyPlanned again: it already has copy',
      );
    });

    it('records a finished copy with every batch done, its manifest and destination prefix', () => {
      const planned = transition(runIn(RunStage.COPYING), SAMPLE.CopyPlanned, ctx);
      const done = transition(
        planned,
        {
          type: 'CopySucceeded',
          objects: 12,
          bytes: 345,
          destinationPrefix: 'lake/y',
          manifestKey: 'lake/y/_manifest.json',
        },
        ctx,
      );
      expect(done.outcome).toBe('SUCCEEDED');
      expect(done.copy).toEqual({
        objects: 12,
        bytes: 345,
        batchesTotal: 2,
        batchesDone: 2,
        objectsCopied: 12,
        bytesCopied: 345,
        manifestKey: 'lake/y/_manifest.json',
      });
      expect(done.destinationPrefix).toBe('lake/y');
    });

    it('counts a copy that finished without a recorded plan as one batch, keeping the earlier destination prefix', () => {
      const done = transition(runIn(RunStage.COPYING, { destinationPrefix: 'lake/x' }), SAMPLE.CopySucceeded, ctx);
      expect(done.copy).toEqual({
        objects: 10,
        bytes: 100,
        batchesTotal: 1,
        batchesDone: 1,
        objectsCopied: 10,
        bytesCopied: 100,
      });
      expect(done.destinationPrefix).toBe('lake/x');
    });
  });

  describe('Class: TransitionNotAllowed', () => {
    it('names the stage and the event it refuses, and nothing more when there is no detail', () => {
      let thrown: unknown;
      try {
        transition(runIn(RunStage.SUCCEEDED), SAMPLE.Cancelled, ctx);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TransitionNotAllowed);
      expect(thrown).toMatchObject({
        name: 'TransitionNotAllowed',
        message: 'a run in SUCCEEDED cannot take Cancelled',
        from: 'SUCCEEDED',
        event: 'Cancelled',
      });
    });
  });

  describe('Function: findTransition', () => {
    it('finds the row allowing an event from a stage, and none for a pair the table does not list', () => {
      expect(findTransition(RunStage.RESTORING, 'SnapshotStarted')).toMatchObject({
        event: 'SnapshotStarted',
        to: 'SNAPSHOTTING',
      });
      expect(findTransition(RunStage.PENDING, 'SnapshotStarted')).toBeUndefined();
    });
  });
});

describe('Module: run', () => {
  describe('Function: newRun', () => {
    const input = {
      runId: 'orders-202605150910-abc123',
      attempt: 2,
      sourceClusterId: 'orders',
      sourceSnapshotId: 'rds:orders-2026-05-15-09-10',
      sourceSnapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2026-05-15-09-10',
      path: ExportPath.RESTORE,
      now: new Date('2026-05-15T09:12:00.000Z'),
      pendingDeadlineMinutes: 30,
    };

    it('records a PENDING run on its first export attempt, with the PENDING deadline', () => {
      expect(newRun(input)).toEqual({
        runId: 'orders-202605150910-abc123',
        attempt: 2,
        sourceClusterId: 'orders',
        sourceSnapshotId: 'rds:orders-2026-05-15-09-10',
        sourceSnapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2026-05-15-09-10',
        path: 'restore',
        stage: 'PENDING',
        exportAttempt: 1,
        stageEnteredAt: { PENDING: '2026-05-15T09:12:00.000Z' },
        createdAt: '2026-05-15T09:12:00.000Z',
        updatedAt: '2026-05-15T09:12:00.000Z',
        deadline: '2026-05-15T09:42:00.000Z',
      });
    });

    it("keeps the snapshot's creation time and the operator's leave to reuse the destination when given", () => {
      const run = newRun({ ...input, sourceSnapshotCreatedAt: '2026-05-15T09:10:41.570Z', reuseDestination: true });
      expect(run.sourceSnapshotCreatedAt).toBe('2026-05-15T09:10:41.570Z');
      expect(run.reuseDestination).toBe(true);
      expect(newRun({ ...input, reuseDestination: false })).not.toHaveProperty('reuseDestination');
    });
  });

  describe('Constants: stages', () => {
    it('tells terminal stages from open ones, in pipeline order', () => {
      expect(TERMINAL_STAGES).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED']);
      expect(OPEN_STAGES).toEqual([
        'PENDING',
        'RESTORING',
        'SNAPSHOTTING',
        'WAITING_FOR_EXPORT_SLOT',
        'EXPORTING',
        'COPYING',
        'CLEANING_UP',
      ]);
      expect(Object.values(RunStage).filter(isTerminal)).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED']);
    });
  });
});
