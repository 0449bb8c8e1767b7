import {
  CancelExportTaskCommand,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeExportTasksCommand,
} from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/cleanup/handler';
import { RunStage } from '../../../lambdas/shared/domain/run';
import { useStageDeps } from '../../support/stage-deps';
import { pipelineEvent } from '../../support/events';
import { FIXTURE_RUN_ID, FIXTURE_TEMP_ID as TEMP, seedRun } from '../../support/runs';
import { awsError } from '../../support/fake-rds';
import { storeFor } from '../../../lambdas/shared/runtime/stage-deps';

const cleanup = () => pipelineEvent('cleanup', { kind: 'cleanup', runId: FIXTURE_RUN_ID });

describe('Handler: cleanup', () => {
  const env = useStageDeps({
    stub: (rds) => {
      rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'available' }] });
      rds.on(DeleteDBClusterCommand).resolves({});
      rds.on(DeleteDBClusterSnapshotCommand).resolves({});
      rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'COMPLETE' }] });
    },
  });
  const { rds } = env;

  it('deletes the temporary snapshot and cluster, finishes the run SUCCEEDED and reports it', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, {
      extra: {
        outcome: 'SUCCEEDED',
        copy: { objects: 3, bytes: 3072, batchesTotal: 1, batchesDone: 1, objectsCopied: 3, bytesCopied: 3072 },
      },
    });
    await makeHandler(env.deps)(cleanup());
    expect(rds.commandCalls(DeleteDBClusterSnapshotCommand)[0].args[0].input).toEqual({
      DBClusterSnapshotIdentifier: TEMP,
    });
    expect(rds.commandCalls(DeleteDBClusterCommand)[0].args[0].input).toEqual({
      DBClusterIdentifier: TEMP,
      SkipFinalSnapshot: true,
    });
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'SUCCEEDED',
      cleanedUp: [`cluster-snapshot:${TEMP}`, `cluster:${TEMP}`],
    });
    expect(env.deps.metricLines).toEqual([expect.objectContaining({ RunSucceeded: 1, Pipeline: 'sim' })]);
    expect(env.deps.alertsSent[0].subject).toBe('[sim] me3-serverless export SUCCEEDED');
    expect(env.deps.alertsSent[0].text).toContain('Objects: 3');
    expect(env.deps.alertsSent[0].text).toMatch(/Stages: PENDING/);
  });

  it('treats resources already gone as cleaned up, and can run again', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, {
      extra: { outcome: 'FAILED', error: { stage: 'EXPORTING', kind: 'ExportFailed', message: 'boom' } },
    });
    rds.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 'not found'));
    rds.on(DeleteDBClusterSnapshotCommand).rejects(awsError('DBClusterSnapshotNotFoundFault', 'not found'));
    const handler = makeHandler(env.deps);
    await handler(cleanup());
    await handler(cleanup());
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'FAILED', cleanedUp: [] });
    expect(env.deps.metricLines).toEqual([expect.objectContaining({ RunFailed: 1 })]);
    expect(env.deps.alertsSent).toHaveLength(1);
    expect(env.deps.alertsSent[0].text).toContain('Error: ExportFailed: boom');
  });

  it('records on the run that its alert went out, and leaves it owed when publishing fails', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { runId: 'unlucky', extra: { outcome: 'FAILED' } });
    await makeHandler(env.deps)(cleanup());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.alertSentAt).toBe('2026-05-15T09:15:00.000Z');
    env.deps.alerts.alert = async () => {
      throw Object.assign(new Error('SNS is down'), { name: 'InternalErrorException' });
    };
    await expect(
      makeHandler(env.deps)(pipelineEvent('cleanup', { kind: 'cleanup', runId: 'unlucky' })),
    ).rejects.toThrow('SNS is down');
    expect(await env.deps.store.get('unlucky')).toMatchObject({ stage: 'FAILED' });
    expect((await env.deps.store.get('unlucky'))?.alertSentAt).toBeUndefined();
  });

  it('lists every temporary resource the run removed, the cluster the export stage deleted included, and says so in the alert', async () => {
    const entered = {
      PENDING: '2026-05-15T08:00:00.000Z',
      RESTORING: '2026-05-15T08:01:00.000Z',
      SNAPSHOTTING: '2026-05-15T08:20:00.000Z',
      EXPORTING: '2026-05-15T08:30:00.000Z',
      CLEANING_UP: '2026-05-15T09:10:00.000Z',
    };
    await seedRun(env.deps.store, RunStage.CLEANING_UP, {
      extra: {
        outcome: 'FAILED',
        stageEnteredAt: entered,
        cleanedUp: [`cluster:${TEMP}`],
        error: { stage: 'COPYING', kind: 'AccessDenied', message: 'denied' },
      },
    });
    rds.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 'not found'));
    await makeHandler(env.deps)(cleanup());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.cleanedUp).toEqual([
      `cluster:${TEMP}`,
      `cluster-snapshot:${TEMP}`,
    ]);
    expect(env.deps.alertsSent[0].text).toContain(
      `Cleaned up: temporary cluster ${TEMP}, temporary cluster snapshot ${TEMP}`,
    );
  });

  it('counts the cluster and snapshot as removed when the run made them and a crashed delivery already deleted them', async () => {
    const entered = {
      PENDING: '2026-05-15T08:00:00.000Z',
      RESTORING: '2026-05-15T08:01:00.000Z',
      SNAPSHOTTING: '2026-05-15T08:20:00.000Z',
      CLEANING_UP: '2026-05-15T09:10:00.000Z',
    };
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED', stageEnteredAt: entered } });
    rds.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 'not found'));
    rds.on(DeleteDBClusterSnapshotCommand).rejects(awsError('DBClusterSnapshotNotFoundFault', 'not found'));
    await makeHandler(env.deps)(cleanup());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.cleanedUp).toEqual([
      `cluster-snapshot:${TEMP}`,
      `cluster:${TEMP}`,
    ]);
  });

  it('cancels a running export of a failed run', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    rds.on(CancelExportTaskCommand).resolves({});
    await makeHandler(env.deps)(cleanup());
    expect(rds.commandCalls(CancelExportTaskCommand)).toHaveLength(1);
    expect(env.deps.alertsSent[0].text).toMatch(/Cleaned up: export task sim-tmp-\S+-x1 \(cancelled\)/);
  });

  it('cancels the running task of every export attempt, the ones never recorded on the run included', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, {
      extra: { outcome: 'FAILED', exportAttempt: 3, exportTaskId: undefined, exportS3Prefix: undefined },
    });
    rds
      .on(DescribeExportTasksCommand, { ExportTaskIdentifier: `${TEMP}-x1` })
      .resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    rds
      .on(DescribeExportTasksCommand, { ExportTaskIdentifier: `${TEMP}-x2` })
      .rejects(awsError('ExportTaskNotFoundFault', 'not found'));
    rds
      .on(DescribeExportTasksCommand, { ExportTaskIdentifier: `${TEMP}-x3` })
      .resolves({ ExportTasks: [{ Status: 'STARTING' }] });
    rds.on(CancelExportTaskCommand).resolves({});
    await makeHandler(env.deps)(cleanup());
    expect(rds.commandCalls(CancelExportTaskCommand).map((c) => c.args[0].input.ExportTaskIdentifier)).toEqual([
      `${TEMP}-x1`,
      `${TEMP}-x3`,
    ]);
    expect(env.deps.alertsSent[0].text).toContain(`export task ${TEMP}-x1 (cancelled)`);
    expect(env.deps.alertsSent[0].text).toContain(`export task ${TEMP}-x3 (cancelled)`);
  });

  it('cancels a surplus task of a succeeded run, but does not look up its own task or attempts found unused', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, {
      extra: { outcome: 'SUCCEEDED', exportAttempt: 4, exportAttemptsChecked: 2, exportTaskId: `${TEMP}-x3` },
    });
    rds
      .on(DescribeExportTasksCommand, { ExportTaskIdentifier: `${TEMP}-x4` })
      .resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    rds.on(CancelExportTaskCommand).resolves({});
    await makeHandler(env.deps)(cleanup());
    expect(rds.commandCalls(DescribeExportTasksCommand).map((c) => c.args[0].input.ExportTaskIdentifier)).toEqual([
      `${TEMP}-x4`,
    ]);
    expect(rds.commandCalls(CancelExportTaskCommand).map((c) => c.args[0].input.ExportTaskIdentifier)).toEqual([
      `${TEMP}-x4`,
    ]);
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('SUCCEEDED');
  });

  it('waits without failing while the temporary snapshot is still being created, and keeps the run CLEANING_UP', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds
      .on(DeleteDBClusterSnapshotCommand)
      .rejects(awsError('InvalidDBClusterSnapshotStateFault', 'snapshot is creating'));
    await expect(makeHandler(env.deps)(cleanup())).resolves.toBeUndefined();
    const waiting = await env.deps.store.get(FIXTURE_RUN_ID);
    expect(waiting?.stage).toBe('CLEANING_UP');
    expect(waiting).toMatchObject({
      cleanedUp: [`cluster:${TEMP}`],
      cleanupWaitingFor: [`cluster-snapshot:${TEMP} (snapshot is creating)`],
    });
    expect(env.deps.alertsSent).toEqual([]);
    expect(env.deps.metricLines).toEqual([]);
  });

  it('finishes on a later pass once the snapshot can go, and reports what every pass removed', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    rds.on(CancelExportTaskCommand).resolves({});
    rds
      .on(DeleteDBClusterSnapshotCommand)
      .rejects(awsError('InvalidDBClusterSnapshotStateFault', 'snapshot is in use by an export task'));
    const handler = makeHandler(env.deps);
    await handler(cleanup());
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'CANCELED' }] });
    rds.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 'not found'));
    rds.on(DeleteDBClusterSnapshotCommand).resolves({});
    await handler(cleanup());
    const done = await env.deps.store.get(FIXTURE_RUN_ID);
    expect(done?.stage).toBe('FAILED');
    expect(done?.cleanupWaitingFor).toBeUndefined();
    expect(done?.cleanedUp).toEqual([
      `export-task:${TEMP}-x1 (cancelled)`,
      `cluster:${TEMP}`,
      `cluster-snapshot:${TEMP}`,
    ]);
    expect(rds.commandCalls(CancelExportTaskCommand)).toHaveLength(1);
    expect(env.deps.alertsSent).toHaveLength(1);
  });

  it('still throws a genuine AWS failure so that Lambda retries it', async () => {
    await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds.on(DeleteDBClusterSnapshotCommand).rejects(awsError('InternalFailure', 'RDS is having a moment', 'server'));
    await expect(makeHandler(env.deps)(cleanup())).rejects.toThrow('RDS is having a moment');
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'CLEANING_UP' });
  });

  it('cancels a live run on an operator cancel, then cleans it up', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    await makeHandler(env.deps)(pipelineEvent('cleanup', { kind: 'cancel', runId: FIXTURE_RUN_ID }));
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'CANCELLED',
      error: { kind: 'Cancelled' },
    });
  });

  it('ignores a cleanup for a run that is not cleaning up', async () => {
    await seedRun(env.deps.store, RunStage.EXPORTING);
    await makeHandler(env.deps)(cleanup());
    expect(rds.calls()).toHaveLength(0);
  });

  describe('Concurrent deliveries on dynalite', () => {
    const OTHER = `export-task:${TEMP}-x1 (cancelled)`;

    /**
     * Deps whose run store lets another delivery record `OTHER` in `cleanedUp` right after this delivery's
     * `nth` read of the run and before its write: the interleaving two cleanup deliveries running at once can
     * produce (the first read is the handler's, the second the final transition's own).
     */
    function racedDeps(nth: number) {
      const raw = env.deps.store.client;
      let reads = 0;
      const client = {
        send: async (command: { constructor: { name: string } }) => {
          const out = await raw.send(command as never);
          if (command.constructor.name === 'GetCommand' && ++reads === nth)
            await env.deps.store.update(FIXTURE_RUN_ID, { set: { cleanedUp: [OTHER] }, ifStage: RunStage.CLEANING_UP });
          return out;
        },
      };
      return { ...env.deps, store: storeFor(env.deps.settings, client as never, env.deps.now) };
    }

    it('keeps what another delivery recorded while this one finished the run', async () => {
      await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
      await makeHandler(racedDeps(2))(cleanup());
      const done = await env.deps.store.get(FIXTURE_RUN_ID);
      expect(done?.stage).toBe('FAILED');
      expect(done?.cleanedUp).toEqual([OTHER, `cluster-snapshot:${TEMP}`, `cluster:${TEMP}`]);
      expect(env.deps.alertsSent[0].text).toContain(`export task ${TEMP}-x1 (cancelled)`);
    });

    it('keeps what another delivery recorded while this one recorded a wait', async () => {
      await seedRun(env.deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
      rds
        .on(DeleteDBClusterSnapshotCommand)
        .rejects(awsError('InvalidDBClusterSnapshotStateFault', 'snapshot is creating'));
      await makeHandler(racedDeps(1))(cleanup());
      expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
        stage: 'CLEANING_UP',
        cleanedUp: [OTHER, `cluster:${TEMP}`],
        cleanupWaitingFor: [`cluster-snapshot:${TEMP} (snapshot is creating)`],
      });
    });
  });
});
