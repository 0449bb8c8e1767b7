import { ExportPath, RunStage, newRun, type Run } from '../../../../lambdas/shared/domain/run';
import {
  TRANSITIONS,
  TransitionNotAllowed,
  transition,
  type RunEvent,
  type RunEventType,
  type TransitionContext,
} from '../../../../lambdas/shared/domain/transitions';

const ctx: TransitionContext = {
  now: new Date('2026-05-15T10:00:00.000Z'),
  deadlinesMinutes: {
    restoring: 120,
    snapshotting: 120,
    waitingForExportSlot: 720,
    exporting: 720,
    copying: 240,
    cleaningUp: 60,
  },
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
});
