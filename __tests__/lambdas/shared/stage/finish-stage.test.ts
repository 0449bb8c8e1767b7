import { finishStage } from '../../../../lambdas/shared/stage/finish-stage';
import { ExportPath, RunStage, newRun, type Run } from '../../../../lambdas/shared/domain/run';
import { transition, type RunEvent } from '../../../../lambdas/shared/domain/transitions';
import { StaleTransition } from '../../../../lambdas/shared/errors';

const ctx = {
  now: new Date('2026-05-15T10:00:00Z'),
  deadlinesMinutes: { restoring: 1, snapshotting: 1, waitingForExportSlot: 1, exporting: 1, copying: 1, cleaningUp: 1 },
  retentionDays: 1,
};

function fakeStore(run: Run) {
  let current = run;
  return {
    apply: jest.fn(async (_id: string, expected: string, event: RunEvent) => {
      if (current.stage !== expected) throw new StaleTransition(run.runId, expected, current.stage);
      current = transition(current, event, ctx);
      return current;
    }),
  };
}

function runIn(stage: Run['stage']): Run {
  return {
    ...newRun({
      runId: 'r',
      attempt: 1,
      sourceClusterId: 'c',
      sourceSnapshotId: 's',
      sourceSnapshotArn: 'a',
      path: ExportPath.DIRECT,
      now: ctx.now,
      pendingDeadlineMinutes: 1,
    }),
    stage,
  };
}

describe('Function: finishStage', () => {
  it('publishes copy-plan to the copy stage when the run enters COPYING', async () => {
    const publisher = { publish: jest.fn(async () => undefined) };
    await finishStage({ store: fakeStore(runIn(RunStage.EXPORTING)), publisher }, 'r', RunStage.EXPORTING, {
      type: 'ExportCompleted',
    });
    expect(publisher.publish).toHaveBeenCalledWith('copy', { kind: 'copy-plan', runId: 'r' });
  });

  it('publishes cleanup when the copy succeeds', async () => {
    const publisher = { publish: jest.fn(async () => undefined) };
    const run = await finishStage({ store: fakeStore(runIn(RunStage.COPYING)), publisher }, 'r', RunStage.COPYING, {
      type: 'CopySucceeded',
      objects: 1,
      bytes: 2,
    });
    expect(run).toMatchObject({ stage: 'CLEANING_UP', outcome: 'SUCCEEDED' });
    expect(publisher.publish).toHaveBeenCalledWith('cleanup', { kind: 'cleanup', runId: 'r' });
  });

  it('publishes nothing when the run stays in its stage or enters a stage RDS events drive', async () => {
    const publisher = { publish: jest.fn(async () => undefined) };
    await finishStage({ store: fakeStore(runIn(RunStage.COPYING)), publisher }, 'r', RunStage.COPYING, {
      type: 'CopyPlanned',
      objects: 1,
      bytes: 1,
      batchesTotal: 1,
    });
    await finishStage({ store: fakeStore(runIn(RunStage.PENDING)), publisher }, 'r', RunStage.PENDING, {
      type: 'RestoreStarted',
      tempClusterId: 't',
      tempSnapshotId: 't',
    });
    expect(publisher.publish).not.toHaveBeenCalled();
  });

  it('publishes nothing when another delivery moved the run first', async () => {
    const publisher = { publish: jest.fn(async () => undefined) };
    await expect(
      finishStage({ store: fakeStore(runIn(RunStage.CLEANING_UP)), publisher }, 'r', RunStage.COPYING, {
        type: 'CopyFailed',
        kind: 'x',
        message: 'y',
      }),
    ).rejects.toThrow(StaleTransition);
    expect(publisher.publish).not.toHaveBeenCalled();
  });
});
