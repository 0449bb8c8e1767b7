import { RunStore } from '../../../../lambdas/shared/adapters/run-store';
import { ExportPath, RunStage, newRun, type Run } from '../../../../lambdas/shared/domain/run';
import { RunNotFound, StaleTransition } from '../../../../lambdas/shared/errors';
import { startDynalite, type DynaliteHandle } from '../../../support/dynalite';
import { DEFAULT_STAGE_DEADLINES } from '../../../../config/schema';

const DEADLINES = DEFAULT_STAGE_DEADLINES;

function aRun(
  runId: string,
  snapshotArn = `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${runId}`,
  attempt = 1,
): Run {
  return newRun({
    runId,
    attempt,
    sourceClusterId: 'c',
    sourceSnapshotId: runId,
    sourceSnapshotArn: snapshotArn,
    path: ExportPath.DIRECT,
    now: new Date('2026-05-15T09:00:00Z'),
    pendingDeadlineMinutes: 120,
  });
}

describe('Class: RunStore', () => {
  let db: DynaliteHandle;
  let store: RunStore;
  let now: Date;

  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(async () => {
    await db.stop();
  });
  beforeEach(async () => {
    now = new Date('2026-05-15T09:05:00Z');
    store = new RunStore({
      tableName: await db.createRunTable(),
      client: db.documentClient(),
      deadlinesMinutes: DEADLINES,
      retentionDays: 30,
      now: () => now,
    });
  });

  describe('Method: createRun', () => {
    it('records a run once and returns the existing one to a second caller', async () => {
      const first = await store.createRun(aRun('r1'));
      const second = await store.createRun({ ...aRun('r1'), sourceClusterId: 'other' });
      expect(first.created).toBe(true);
      expect(second).toEqual({ created: false, run: expect.objectContaining({ runId: 'r1', sourceClusterId: 'c' }) });
    });

    it('lets only one of two concurrent creators win', async () => {
      const results = await Promise.all([store.createRun(aRun('r2')), store.createRun(aRun('r2'))]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
    });
  });

  describe('Method: apply', () => {
    it('moves the run and writes only what changed', async () => {
      await store.createRun(aRun('r3'));
      const moved = await store.apply('r3', RunStage.PENDING, {
        type: 'ExportStarted',
        exportTaskId: 't1',
        exportS3Prefix: 'exports/r3/t1',
        exportSourceArn: 'arn:s',
      });
      expect(moved).toMatchObject({ stage: 'EXPORTING', exportTaskId: 't1', updatedAt: now.toISOString() });
      expect(await store.get('r3')).toEqual(moved);
    });

    it('throws StaleTransition when the run is in another stage', async () => {
      await store.createRun(aRun('r4'));
      await expect(store.apply('r4', RunStage.RESTORING, { type: 'SnapshotStarted' })).rejects.toThrow(StaleTransition);
    });

    it('lets exactly one of two concurrent moves from the same stage win', async () => {
      await store.createRun(aRun('r5'));
      const results = await Promise.allSettled([
        store.apply('r5', RunStage.PENDING, { type: 'RestoreStarted', tempClusterId: 'a', tempSnapshotId: 'a' }),
        store.apply('r5', RunStage.PENDING, { type: 'Failed', stage: RunStage.PENDING, kind: 'X', message: 'x' }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([
        expect.any(StaleTransition),
      ]);
    });

    it('records a copy plan once: a second plan, concurrent or late, is stale and leaves the counters alone', async () => {
      await store.createRun(aRun('r5p'));
      await store.apply('r5p', RunStage.PENDING, {
        type: 'ExportStarted',
        exportTaskId: 't',
        exportS3Prefix: 'p',
        exportSourceArn: 'a',
      });
      await store.apply('r5p', RunStage.EXPORTING, { type: 'ExportCompleted' });
      const plan = { type: 'CopyPlanned', objects: 4, bytes: 40, batchesTotal: 2 } as const;
      const results = await Promise.allSettled([
        store.apply('r5p', RunStage.COPYING, plan),
        store.apply('r5p', RunStage.COPYING, plan),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([
        expect.any(StaleTransition),
      ]);
      await store.update('r5p', { add: { 'copy.batchesDone': 1, 'copy.objectsCopied': 2 }, ifStage: RunStage.COPYING });
      await expect(store.apply('r5p', RunStage.COPYING, plan)).rejects.toThrow(StaleTransition);
      expect((await store.get('r5p'))?.copy).toMatchObject({ batchesDone: 1, objectsCopied: 2, batchesTotal: 2 });
    });

    it('throws RunNotFound for an unknown run', async () => {
      await expect(store.apply('nope', RunStage.PENDING, { type: 'SnapshotStarted' })).rejects.toThrow(RunNotFound);
    });

    it('removes fields the transition clears', async () => {
      await store.createRun(aRun('r6'));
      await store.apply('r6', RunStage.PENDING, { type: 'Failed', stage: RunStage.PENDING, kind: 'X', message: 'x' });
      const done = await store.apply('r6', RunStage.CLEANING_UP, { type: 'CleanupDone', cleanedUp: [] });
      expect(done.stage).toBe('FAILED');
      expect(done.outcome).toBeUndefined();
      expect(done.deadline).toBeUndefined();
      expect(done.expiresAt).toBe(Math.floor(now.getTime() / 1000) + 30 * 86_400);
    });
  });

  describe('Method: update', () => {
    it('adds to nested counters atomically under a stage condition', async () => {
      await store.createRun(aRun('r7'));
      await store.apply('r7', RunStage.PENDING, {
        type: 'ExportStarted',
        exportTaskId: 't',
        exportS3Prefix: 'p',
        exportSourceArn: 'a',
      });
      await store.apply('r7', RunStage.EXPORTING, { type: 'ExportCompleted' });
      await store.apply('r7', RunStage.COPYING, { type: 'CopyPlanned', objects: 4, bytes: 40, batchesTotal: 2 });
      await Promise.all(
        [1, 2].map(() =>
          store.update('r7', { add: { 'copy.batchesDone': 1, 'copy.objectsCopied': 2 }, ifStage: RunStage.COPYING }),
        ),
      );
      expect((await store.get('r7'))?.copy).toMatchObject({ batchesDone: 2, objectsCopied: 4, batchesTotal: 2 });
    });

    it('throws StaleTransition when the condition fails', async () => {
      await store.createRun(aRun('r8'));
      await expect(
        store.update('r8', { set: { destinationPrefix: 'x' }, ifStage: [RunStage.COPYING, RunStage.EXPORTING] }),
      ).rejects.toThrow(StaleTransition);
      await expect(store.update('missing', { set: { destinationPrefix: 'x' } })).rejects.toThrow(StaleTransition);
    });
  });

  describe('Queries', () => {
    it('finds every attempt of a snapshot, oldest first, and runs by stage', async () => {
      const arn = 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:c-1';
      await store.createRun(aRun('s-1', arn));
      await store.createRun({ ...aRun('s-1-r2', arn, 2), createdAt: '2026-05-16T00:00:00.000Z' });
      await store.createRun(aRun('other'));
      expect((await store.findBySnapshot(arn)).map((r) => r.runId)).toEqual(['s-1', 's-1-r2']);
      expect((await store.listByStage(RunStage.PENDING)).map((r) => r.runId).sort()).toEqual([
        'other',
        's-1',
        's-1-r2',
      ]);
      expect(await store.listByStage(RunStage.PENDING, { updatedBefore: new Date('2026-05-01T00:00:00Z') })).toEqual(
        [],
      );
    });

    it('lists the runs of a stage updated after, or between, given times', async () => {
      await store.createRun({ ...aRun('early'), updatedAt: '2026-05-15T08:00:00.000Z' });
      await store.createRun({ ...aRun('middle'), updatedAt: '2026-05-15T09:00:00.000Z' });
      await store.createRun({ ...aRun('late'), updatedAt: '2026-05-15T10:00:00.000Z' });
      const ids = async (o: { updatedAfter?: Date; updatedBefore?: Date }) =>
        (await store.listByStage(RunStage.PENDING, o)).map((r) => r.runId);
      expect(await ids({ updatedAfter: new Date('2026-05-15T08:30:00Z') })).toEqual(['middle', 'late']);
      expect(
        await ids({ updatedAfter: new Date('2026-05-15T08:30:00Z'), updatedBefore: new Date('2026-05-15T09:30:00Z') }),
      ).toEqual(['middle']);
    });
  });
});
