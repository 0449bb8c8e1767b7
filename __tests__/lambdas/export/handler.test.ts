import {
  DeleteDBClusterCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  StartExportTaskCommand,
} from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/export/handler';
import { ExportPath, RunStage } from '../../../lambdas/shared/domain/run';
import { useStageDeps } from '../../support/stage-deps';
import { pipelineEvent, rdsEventWith } from '../../support/events';
import { FIXTURE_RUN_ID, FIXTURE_TEMP_ID as TEMP, seedRun } from '../../support/runs';
import { awsError } from '../../support/fake-rds';

const TEMP_ARN = `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${TEMP}`;
const event0075 = () =>
  rdsEventWith('rds-event-0075-manual-snapshot.json', { 'Source ID': TEMP, 'Source ARN': TEMP_ARN });

describe('Handler: export', () => {
  const env = useStageDeps({
    stub: (rds) => {
      rds.on(DescribeDBClusterSnapshotsCommand).resolves({
        DBClusterSnapshots: [
          { DBClusterSnapshotIdentifier: TEMP, DBClusterSnapshotArn: TEMP_ARN, Status: 'available' },
        ],
      });
      rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'available' }] });
      rds.on(DeleteDBClusterCommand).resolves({});
      rds.on(StartExportTaskCommand).resolves({});
    },
  });
  const { rds } = env;

  it('deletes the temporary cluster without a final snapshot and exports the temporary snapshot', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    await makeHandler(env.deps)(event0075());
    expect(rds.commandCalls(DeleteDBClusterCommand)[0].args[0].input).toEqual({
      DBClusterIdentifier: TEMP,
      SkipFinalSnapshot: true,
    });
    expect(rds.commandCalls(DescribeDBClustersCommand)).toHaveLength(0);
    expect(rds.commandCalls(StartExportTaskCommand)[0].args[0].input).toMatchObject({
      SourceArn: TEMP_ARN,
      ExportTaskIdentifier: `${TEMP}-x1`,
    });
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'EXPORTING', exportSourceArn: TEMP_ARN });
  });

  it('records the temporary cluster it deleted on the run, and nothing when the cluster was busy', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING, { runId: 'busy' });
    await makeHandler(env.deps)(event0075());
    rds.on(DeleteDBClusterCommand).rejects(awsError('InvalidDBClusterStateFault', 'DB cluster is deleting'));
    await makeHandler(env.deps)(pipelineEvent('export', { kind: 'advance', runId: 'busy' }));
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.cleanedUp).toEqual([`cluster:${TEMP}`]);
    expect(await env.deps.store.get('busy')).toMatchObject({ stage: 'EXPORTING' });
    expect((await env.deps.store.get('busy'))?.cleanedUp).toBeUndefined();
  });

  it('leaves a cluster that is already being deleted to the cleanup and still exports', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    rds.on(DeleteDBClusterCommand).rejects(awsError('InvalidDBClusterStateFault', 'DB cluster is deleting'));
    await makeHandler(env.deps)(event0075());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('EXPORTING');
  });

  it('counts an existing export task of the same id as started', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    rds.on(StartExportTaskCommand).rejects(awsError('ExportTaskAlreadyExistsFault', 'exists'));
    await makeHandler(env.deps)(event0075());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('EXPORTING');
  });

  it('retries a run waiting for an export slot with a new task id', async () => {
    await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, {
      path: ExportPath.DIRECT,
      extra: { exportAttempt: 3, exportSourceArn: 'arn:source' },
    });
    await makeHandler(env.deps)(pipelineEvent('export', { kind: 'advance', runId: FIXTURE_RUN_ID }));
    expect(rds.commandCalls(StartExportTaskCommand)[0].args[0].input).toMatchObject({
      SourceArn: 'arn:source',
      ExportTaskIdentifier: `${TEMP}-x3`,
    });
    expect(rds.commandCalls(DeleteDBClusterCommand)).toHaveLength(0);
  });

  it('deletes the temporary cluster of a waiting restore-path run once, not on every retry for a slot', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    rds
      .on(StartExportTaskCommand)
      .rejects(awsError('ExportTaskLimitReachedFault', 'limit of 5 concurrent export tasks reached'));
    const handler = makeHandler(env.deps);
    await handler(event0075());
    await handler(pipelineEvent('export', { kind: 'advance', runId: FIXTURE_RUN_ID }));
    await handler(pipelineEvent('export', { kind: 'advance', runId: FIXTURE_RUN_ID }));
    expect(rds.commandCalls(DeleteDBClusterCommand)).toHaveLength(1);
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(3);
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'WAITING_FOR_EXPORT_SLOT',
      cleanedUp: [`cluster:${TEMP}`],
    });
  });

  it('keeps waiting while there is still no slot', async () => {
    await seedRun(env.deps.store, RunStage.WAITING_FOR_EXPORT_SLOT, {
      path: ExportPath.DIRECT,
      extra: { exportAttempt: 2, exportSourceArn: 'arn:source' },
    });
    rds
      .on(StartExportTaskCommand)
      .rejects(awsError('ExportTaskLimitReachedFault', 'limit of 5 concurrent export tasks reached'));
    await makeHandler(env.deps)(pipelineEvent('export', { kind: 'advance', runId: FIXTURE_RUN_ID }));
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'WAITING_FOR_EXPORT_SLOT',
      exportAttempt: 3,
    });
  });

  it('does nothing until the temporary snapshot is available', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolves({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: TEMP, Status: 'creating' }] });
    await makeHandler(env.deps)(event0075());
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(0);
  });

  it('ignores a manual snapshot that is not one of its temporary snapshots', async () => {
    await makeHandler(env.deps)(
      rdsEventWith('rds-event-0075-manual-snapshot.json', { 'Source ID': 'someone-elses-backup' }),
    );
    expect(rds.calls()).toHaveLength(0);
  });
});
