import {
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeExportTasksCommand,
} from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/reconcile/handler';
import { ExportPath, RunStage } from '../../../lambdas/shared/domain/run';
import { useStageDeps } from '../../support/stage-deps';
import { FIXTURE_RUN_ID, FIXTURE_TEMP_ID as TEMP, seedRun } from '../../support/runs';

const tags = (runId: string) => [
  { Key: 'managed-by', Value: 'sim-export-pipeline' },
  { Key: 'run-id', Value: runId },
];

describe('Handler: reconcile', () => {
  const env = useStageDeps({
    stub: (rds) => {
      rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
      rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [] });
      rds.on(DeleteDBClusterCommand).resolves({});
      rds.on(DeleteDBClusterSnapshotCommand).resolves({});
    },
  });
  const { rds } = env;

  it('fails a run past its stage deadline, counts it, and sends it to cleanup', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING, { extra: { deadline: '2026-05-15T09:00:00.000Z' } });
    const report = await makeHandler(env.deps)();
    expect(report.pastDeadline).toEqual([FIXTURE_RUN_ID]);
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { kind: 'DeadlinePassed', stage: 'SNAPSHOTTING' },
    });
    expect(env.deps.sent).toEqual([{ target: 'cleanup', message: { kind: 'cleanup', runId: FIXTURE_RUN_ID } }]);
    expect(env.deps.metricLines).toEqual([expect.objectContaining({ RunPastDeadline: 1 })]);
  });

  it('advances a restoring run whose cluster is available but whose 0170 never came', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    rds
      .on(DescribeDBClustersCommand, { DBClusterIdentifier: TEMP })
      .resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'available' }] });
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([{ target: 'snapshot', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
  });

  it('leaves a restoring run alone while its cluster is still creating', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    rds
      .on(DescribeDBClustersCommand, { DBClusterIdentifier: TEMP })
      .resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'creating' }] });
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([]);
  });

  it('advances an exporting run whose task has ended', async () => {
    await seedRun(env.deps.store, RunStage.EXPORTING);
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'COMPLETE' }] });
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([{ target: 'export-finished', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
  });

  it('fails an exporting run whose task stays missing, but not one just started', async () => {
    await seedRun(env.deps.store, RunStage.EXPORTING, { extra: { updatedAt: '2026-05-15T09:14:00.000Z' } });
    rds
      .on(DescribeExportTasksCommand)
      .rejects(Object.assign(new Error('not found'), { name: 'ExportTaskNotFoundFault' }));
    await makeHandler(env.deps)();
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('EXPORTING');
    env.deps.setNow(new Date('2026-05-15T09:40:00.000Z'));
    const report = await makeHandler(env.deps)();
    expect(report.failed).toEqual([FIXTURE_RUN_ID]);
  });

  it('retries a run waiting for an export slot', async () => {
    await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, { path: ExportPath.DIRECT });
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([{ target: 'export', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
  });

  describe('runs waiting for an export slot after earlier attempts', () => {
    const waitingAt = (exportAttempt: number, updatedAt = '2026-05-15T09:11:00.000Z') => ({
      path: ExportPath.DIRECT,
      extra: { exportAttempt, exportSourceArn: 'arn:source', updatedAt },
    });
    const taskOf = (attempt: number) => `${TEMP}-x${attempt}`;
    const notFound = () => Object.assign(new Error('not found'), { name: 'ExportTaskNotFoundFault' });

    it('adopts the task an earlier attempt started without recording it, instead of starting another', async () => {
      await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, waitingAt(2));
      rds.on(DescribeExportTasksCommand, { ExportTaskIdentifier: taskOf(1) }).resolves({
        ExportTasks: [{ ExportTaskIdentifier: taskOf(1), SourceArn: 'arn:source', Status: 'IN_PROGRESS' }],
      });
      const report = await makeHandler(env.deps)();
      expect(report.adoptedExports).toEqual([{ runId: FIXTURE_RUN_ID, exportTaskId: taskOf(1) }]);
      expect(env.deps.sent).toEqual([]);
      expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
        stage: 'EXPORTING',
        exportTaskId: taskOf(1),
        exportS3Prefix: `exports/${FIXTURE_RUN_ID}/${taskOf(1)}`,
        exportAttempt: 2,
      });
    });

    it('hands an adopted task that has already ended to export-finished', async () => {
      await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, waitingAt(2));
      rds
        .on(DescribeExportTasksCommand, { ExportTaskIdentifier: taskOf(1) })
        .resolves({ ExportTasks: [{ ExportTaskIdentifier: taskOf(1), Status: 'COMPLETE' }] });
      await makeHandler(env.deps)();
      expect(env.deps.sent).toEqual([
        { target: 'export-finished', message: { kind: 'advance', runId: FIXTURE_RUN_ID } },
      ]);
      expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('EXPORTING');
    });

    it('looks each earlier attempt up once, records it as unused, and retries the slot', async () => {
      await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, waitingAt(3));
      rds.on(DescribeExportTasksCommand).rejects(notFound());
      const handler = makeHandler(env.deps);
      await handler();
      expect(rds.commandCalls(DescribeExportTasksCommand).map((c) => c.args[0].input.ExportTaskIdentifier)).toEqual([
        taskOf(1),
        taskOf(2),
      ]);
      expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
        stage: 'WAITING_FOR_EXPORT_SLOT',
        exportAttemptsChecked: 2,
      });
      env.deps.setNow(new Date('2026-05-15T09:30:00.000Z'));
      await handler();
      expect(rds.commandCalls(DescribeExportTasksCommand)).toHaveLength(2);
      expect(env.deps.sent).toEqual([
        { target: 'export', message: { kind: 'advance', runId: FIXTURE_RUN_ID } },
        { target: 'export', message: { kind: 'advance', runId: FIXTURE_RUN_ID } },
      ]);
    });

    it('does not trust a lookup right after the refusal, when a task just started may not be listed yet', async () => {
      await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, waitingAt(2, '2026-05-15T09:14:30.000Z'));
      rds.on(DescribeExportTasksCommand).rejects(notFound());
      await makeHandler(env.deps)();
      expect(rds.commandCalls(DescribeExportTasksCommand)).toHaveLength(0);
      expect(env.deps.sent).toEqual([]);
      env.deps.setNow(new Date('2026-05-15T09:30:00.000Z'));
      await makeHandler(env.deps)();
      expect(env.deps.sent).toEqual([{ target: 'export', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
    });
  });

  it('fails a snapshotting run whose snapshot failed', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    rds
      .on(DescribeDBClusterSnapshotsCommand, { DBClusterSnapshotIdentifier: TEMP })
      .resolves({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: TEMP, Status: 'failed' }] });
    const report = await makeHandler(env.deps)();
    expect(report.failed).toEqual([FIXTURE_RUN_ID]);
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('CLEANING_UP');
  });

  it('nudges a copy that made no progress for a while, and not one that did', async () => {
    await seedRun(env.deps.store, RunStage.COPYING, { extra: { updatedAt: '2026-05-15T09:14:00.000Z' } });
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([]);
    env.deps.setNow(new Date('2026-05-15T09:30:00.000Z'));
    await makeHandler(env.deps)();
    expect(env.deps.sent).toEqual([{ target: 'copy', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
  });

  it('nudges an active copy only when one of its batches has no live lease', async () => {
    await seedRun(env.deps.store, RunStage.COPYING, {
      extra: {
        updatedAt: '2026-05-15T09:14:00.000Z',
        copy: { objects: 3, bytes: 3, batchesTotal: 3, batchesDone: 0, objectsCopied: 0, bytesCopied: 0 },
      },
    });
    const unattended: number[] = [];
    const deps = { ...env.deps, copyBatches: { unattendedIndexes: async () => unattended } };
    await makeHandler(deps)();
    expect(env.deps.sent).toEqual([]);
    unattended.push(2);
    await makeHandler(deps)();
    expect(env.deps.sent).toEqual([{ target: 'copy', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
  });

  it('sends a waiting cleanup again once it has been idle, and reports it once past the cleanup deadline', async () => {
    const waiting = {
      outcome: 'FAILED' as const,
      updatedAt: '2026-05-15T09:14:00.000Z',
      deadline: '2026-05-15T10:00:00.000Z',
      cleanupWaitingFor: ['cluster-snapshot:x (creating)'],
    };
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: waiting });
    const handler = makeHandler(env.deps);
    await handler();
    expect(env.deps.sent).toEqual([]);
    env.deps.setNow(new Date('2026-05-15T09:30:00.000Z'));
    await handler();
    expect(env.deps.sent).toEqual([{ target: 'cleanup', message: { kind: 'advance', runId: FIXTURE_RUN_ID } }]);
    expect(env.deps.metricLines).toEqual([]);
    env.deps.setNow(new Date('2026-05-15T10:05:00.000Z'));
    const late = await handler();
    expect(late.pastDeadline).toEqual([FIXTURE_RUN_ID]);
    expect(env.deps.metricLines).toEqual([expect.objectContaining({ RunPastDeadline: 1 })]);
    expect(env.deps.sent).toHaveLength(2);
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('CLEANING_UP');
  });

  it('deletes tagged temporary resources past the grace period whose run is finished or unknown, and keeps the others', async () => {
    await seedRun(env.deps.store, RunStage.EXPORTING, { runId: 'live-run' });
    const old = new Date('2026-05-15T07:00:00.000Z');
    const young = new Date('2026-05-15T09:00:00.000Z');
    rds.on(DescribeDBClustersCommand, {}).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'sim-tmp-unknown-run',
          Status: 'available',
          TagList: tags('unknown-run'),
          ClusterCreateTime: old,
        },
        {
          DBClusterIdentifier: 'sim-tmp-live-run',
          Status: 'available',
          TagList: tags('live-run'),
          ClusterCreateTime: old,
        },
        { DBClusterIdentifier: 'sim-tmp-young', Status: 'available', TagList: tags('young'), ClusterCreateTime: young },
        { DBClusterIdentifier: 'sim-tmp-untagged', Status: 'available', TagList: [], ClusterCreateTime: old },
        { DBClusterIdentifier: 'sim-tmp-going', Status: 'deleting', TagList: tags('going'), ClusterCreateTime: old },
        { DBClusterIdentifier: 'production', Status: 'available', TagList: tags('x'), ClusterCreateTime: old },
      ],
    });
    rds.on(DescribeDBClusterSnapshotsCommand, { SnapshotType: 'manual' }).resolves({
      DBClusterSnapshots: [
        {
          DBClusterSnapshotIdentifier: 'sim-tmp-unknown-run',
          Status: 'available',
          TagList: tags('unknown-run'),
          SnapshotCreateTime: old,
        },
      ],
    });
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    const report = await makeHandler(env.deps)();
    expect(report.orphansDeleted).toEqual(['cluster:sim-tmp-unknown-run', 'cluster-snapshot:sim-tmp-unknown-run']);
    expect(rds.commandCalls(DeleteDBClusterCommand).map((c) => c.args[0].input.DBClusterIdentifier)).toEqual([
      'sim-tmp-unknown-run',
    ]);
  });

  it('starts the newest automated snapshot of a configured cluster when its 0169 was missed', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand, { DBClusterIdentifier: 'orders-provisioned', SnapshotType: 'automated' })
      .resolves({
        DBClusterSnapshots: [
          {
            DBClusterSnapshotIdentifier: 'rds:orders-provisioned-2026-05-15-08-00',
            DBClusterSnapshotArn: 'arn:snap',
            DBClusterIdentifier: 'orders-provisioned',
            Status: 'available',
            SnapshotCreateTime: new Date('2026-05-15T08:00:00Z'),
          },
        ],
      });
    const report = await makeHandler(env.deps)();
    expect(report.started).toEqual(['rds:orders-provisioned-2026-05-15-08-00']);
    expect(env.deps.sent).toEqual([
      { target: 'start', message: { kind: 'start', clusterId: 'orders-provisioned', snapshotArn: 'arn:snap' } },
    ]);
  });

  describe('alerts never confirmed', () => {
    const finishedAt = (stage: RunStage, at: string) => ({
      stage,
      stageEnteredAt: { PENDING: '2026-05-15T08:00:00.000Z', [stage]: at },
      updatedAt: at,
    });

    it('sends again the alert of a run that finished without one, once, however many passes run', async () => {
      await seedRun(env.deps.store, RunStage.FAILED, {
        extra: {
          ...finishedAt(RunStage.FAILED, '2026-05-15T09:00:00.000Z'),
          error: { stage: 'EXPORTING', kind: 'ExportFailed', message: 'boom' },
        },
      });
      const handler = makeHandler(env.deps);
      const first = await handler();
      await handler();
      env.deps.setNow(new Date('2026-05-15T10:15:00.000Z'));
      const later = await handler();
      expect(first.alertsResent).toEqual([FIXTURE_RUN_ID]);
      expect(later.alertsResent).toEqual([]);
      expect(env.deps.alertsSent.map((a) => a.subject)).toEqual(['[sim] me3-serverless export FAILED at EXPORTING']);
      expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
        alertSentAt: '2026-05-15T09:15:00.000Z',
        alertRedeliveries: 1,
      });
    });

    it('leaves alone runs that just finished, whose alert was confirmed, or that finished hours ago', async () => {
      await seedRun(env.deps.store, RunStage.FAILED, {
        runId: 'just-finished',
        extra: finishedAt(RunStage.FAILED, '2026-05-15T09:14:00.000Z'),
      });
      await seedRun(env.deps.store, RunStage.CANCELLED, {
        runId: 'confirmed',
        extra: {
          ...finishedAt(RunStage.CANCELLED, '2026-05-15T09:00:00.000Z'),
          alertSentAt: '2026-05-15T09:00:01.000Z',
        },
      });
      await seedRun(env.deps.store, RunStage.FAILED, {
        runId: 'yesterday',
        extra: finishedAt(RunStage.FAILED, '2026-05-14T09:00:00.000Z'),
      });
      const report = await makeHandler(env.deps)();
      expect(report.alertsResent).toEqual([]);
      expect(env.deps.alertsSent).toEqual([]);
    });

    it('sends no success alert again when success alerts are off', async () => {
      await env.rebuild({ settings: { notifyOnSuccess: false } });
      await seedRun(env.deps.store, RunStage.SUCCEEDED, {
        extra: finishedAt(RunStage.SUCCEEDED, '2026-05-15T09:00:00.000Z'),
      });
      await makeHandler(env.deps)();
      expect(env.deps.alertsSent).toEqual([]);
    });

    it('gives up after three sends when the confirmation cannot be recorded', async () => {
      await seedRun(env.deps.store, RunStage.FAILED, {
        extra: finishedAt(RunStage.FAILED, '2026-05-15T09:00:00.000Z'),
      });
      const update = env.deps.store.update.bind(env.deps.store);
      jest.spyOn(env.deps.store, 'update').mockImplementation(async (runId, spec) => {
        if (spec.set?.alertSentAt) throw Object.assign(new Error('table unavailable'), { name: 'InternalServerError' });
        return update(runId, spec);
      });
      const handler = makeHandler(env.deps);
      for (let i = 0; i < 6; i++) await handler();
      expect(env.deps.alertsSent).toHaveLength(3);
      expect((await env.deps.store.get(FIXTURE_RUN_ID))?.alertRedeliveries).toBe(3);
    });
  });
});
