import { ExportPath, RunStage, type Run } from '../../../../lambdas/shared/domain/run';
import { alertFor, describeRemoved, formatBytes, stageDurations } from '../../../../lambdas/shared/domain/report';

/** A finished run as the table holds it. */
function finished(over: Partial<Run> = {}): Run {
  return {
    runId: 'orders-202605150910-abc123',
    attempt: 1,
    sourceClusterId: 'orders',
    sourceSnapshotId: 'rds:orders-2026-05-15-09-10',
    sourceSnapshotArn: 'arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:rds:orders-2026-05-15-09-10',
    path: ExportPath.DIRECT,
    stage: RunStage.SUCCEEDED,
    exportAttempt: 1,
    stageEnteredAt: {
      PENDING: '2026-05-15T09:00:00.000Z',
      EXPORTING: '2026-05-15T09:00:30.000Z',
      COPYING: '2026-05-15T10:35:30.000Z',
      CLEANING_UP: '2026-05-15T10:37:00.000Z',
      SUCCEEDED: '2026-05-15T10:37:45.000Z',
    },
    createdAt: '2026-05-15T09:00:00.000Z',
    updatedAt: '2026-05-15T10:37:45.000Z',
    ...over,
  };
}

describe('Module: report', () => {
  describe('Function: stageDurations', () => {
    it('gives the seconds spent in each stage the run went through, up to the stage it ended in', () => {
      expect(stageDurations(finished())).toEqual([
        { stage: 'PENDING', seconds: 30 },
        { stage: 'EXPORTING', seconds: 5700 },
        { stage: 'COPYING', seconds: 90 },
        { stage: 'CLEANING_UP', seconds: 45 },
      ]);
    });

    it('orders stages by when the run entered them and rounds to whole seconds', () => {
      const run = finished({
        stageEnteredAt: {
          PENDING: '2026-05-15T09:00:00.000Z',
          CLEANING_UP: '2026-05-15T09:00:01.600Z',
          FAILED: '2026-05-15T09:00:01.000Z',
        },
      });
      expect(stageDurations(run)).toEqual([
        { stage: 'PENDING', seconds: 1 },
        { stage: 'FAILED', seconds: 1 },
      ]);
    });

    it('has nothing to say about a run that entered one stage only', () => {
      expect(stageDurations(finished({ stageEnteredAt: { PENDING: '2026-05-15T09:00:00.000Z' } }))).toEqual([]);
    });
  });

  describe('Function: formatBytes', () => {
    it('writes bytes below 1 KiB as whole bytes', () => {
      expect(formatBytes(0)).toBe('0 B');
      expect(formatBytes(1023)).toBe('1023 B');
    });

    it('switches unit at every 1024, with one decimal', () => {
      expect(formatBytes(1024)).toBe('1.0 KiB');
      expect(formatBytes(1536)).toBe('1.5 KiB');
      expect(formatBytes(1024 ** 2 - 1)).toBe('1024.0 KiB');
      expect(formatBytes(1024 ** 2)).toBe('1.0 MiB');
      expect(formatBytes(5.2 * 1024 ** 3)).toBe('5.2 GiB');
      expect(formatBytes(1024 ** 4)).toBe('1.0 TiB');
    });

    it('stays in TiB past 1024 TiB', () => {
      expect(formatBytes(1024 ** 5)).toBe('1024.0 TiB');
    });
  });

  describe('Function: describeRemoved', () => {
    it('names the kind of each temporary resource in words', () => {
      expect(describeRemoved('cluster:p-tmp-r')).toBe('temporary cluster p-tmp-r');
      expect(describeRemoved('cluster-snapshot:p-tmp-r (already gone)')).toBe(
        'temporary cluster snapshot p-tmp-r (already gone)',
      );
      expect(describeRemoved('export-task:p-tmp-r-x1')).toBe('export task p-tmp-r-x1');
    });

    it('keeps an entry of an unknown kind, or without a kind, as it is', () => {
      expect(describeRemoved('bucket:b')).toBe('bucket:b');
      expect(describeRemoved(':cluster')).toBe(':cluster');
      expect(describeRemoved('cluster')).toBe('cluster');
    });
  });

  describe('Function: alertFor', () => {
    it('sums up a successful run: what was copied where, what was removed, and how long each stage took', () => {
      const alert = alertFor(
        'aurora-export',
        finished({
          copy: { objects: 4, bytes: 3000, batchesTotal: 1, batchesDone: 1, objectsCopied: 3, bytesCopied: 3072 },
          destinationPrefix: 'lake/orders/2026-05-15',
          warnings: ['table a.b.c skipped', 'table a.b.d failed'],
          cleanedUp: ['cluster:p-tmp-r', 'export-task:p-tmp-r-x1'],
          error: { stage: RunStage.COPYING, kind: 'Transient', message: 'retried' },
        }),
      );
      expect(alert.subject).toBe('[aurora-export] orders export SUCCEEDED');
      expect(alert.text).toBe(
        [
          'Run orders-202605150910-abc123 SUCCEEDED',
          'Cluster: orders',
          'Snapshot: rds:orders-2026-05-15-09-10',
          'Path: direct',
          'Objects: 3',
          'Bytes: 3.0 KiB (3072)',
          'Destination prefix: lake/orders/2026-05-15',
          'Warnings: table a.b.c skipped; table a.b.d failed',
          'Cleaned up: temporary cluster p-tmp-r, export task p-tmp-r-x1',
          'Stages: PENDING 30s, EXPORTING 1h 35m, COPYING 1m 30s, CLEANING_UP 45s',
        ].join('\n'),
      );
    });

    it('names the failed stage and the error of a failed run, in the subject too', () => {
      const alert = alertFor(
        'aurora-export',
        finished({
          stage: RunStage.FAILED,
          error: { stage: RunStage.EXPORTING, kind: 'ExportFailed', message: 'the export task failed' },
          cleanedUp: [],
          stageEnteredAt: {
            PENDING: '2026-05-15T09:00:00.000Z',
            EXPORTING: '2026-05-15T09:01:00.000Z',
            CLEANING_UP: '2026-05-15T09:03:00.000Z',
            FAILED: '2026-05-15T10:03:00.000Z',
          },
        }),
      );
      expect(alert.subject).toBe('[aurora-export] orders export FAILED at EXPORTING');
      expect(alert.text.split('\n')).toEqual([
        'Run orders-202605150910-abc123 FAILED',
        'Cluster: orders',
        'Snapshot: rds:orders-2026-05-15-09-10',
        'Path: direct',
        'Stage: EXPORTING',
        'Error: ExportFailed: the export task failed',
        'Cleaned up: nothing left to delete',
        'Stages: PENDING 1m, EXPORTING 2m, CLEANING_UP 1h 0m',
      ]);
    });

    it('says nothing of stages, errors or copies a run does not have', () => {
      const alert = alertFor(
        'p',
        finished({ stage: RunStage.CANCELLED, stageEnteredAt: { CANCELLED: '2026-05-15T09:00:00.000Z' } }),
      );
      expect(alert.subject).toBe('[p] orders export CANCELLED');
      expect(alert.text.split('\n')).toEqual([
        'Run orders-202605150910-abc123 CANCELLED',
        'Cluster: orders',
        'Snapshot: rds:orders-2026-05-15-09-10',
        'Path: direct',
        'Cleaned up: nothing left to delete',
      ]);
    });
  });
});
