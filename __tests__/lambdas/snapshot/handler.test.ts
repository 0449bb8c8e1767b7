import { CreateDBClusterSnapshotCommand, DescribeDBClustersCommand } from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/snapshot/handler';
import { RunStage } from '../../../lambdas/shared/domain/run';
import { useStageDeps } from '../../support/stage-deps';
import { pipelineEvent, rdsEventWith } from '../../support/events';
import { FIXTURE_RUN_ID, FIXTURE_TEMP_ID as TEMP, seedRun } from '../../support/runs';
import { awsError } from '../../support/fake-rds';

const event0170 = () => rdsEventWith('rds-event-0170-cluster-created.json', { 'Source ID': TEMP });

describe('Handler: snapshot', () => {
  const env = useStageDeps({
    stub: (rds) => {
      rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'available' }] });
      rds.on(CreateDBClusterSnapshotCommand).resolves({});
    },
  });
  const { rds } = env;

  it('takes a tagged manual snapshot of the temporary cluster and moves the run to SNAPSHOTTING', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    await makeHandler(env.deps)(event0170());
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)[0].args[0].input).toEqual({
      DBClusterSnapshotIdentifier: TEMP,
      DBClusterIdentifier: TEMP,
      Tags: [
        { Key: 'managed-by', Value: 'sim-export-pipeline' },
        { Key: 'run-id', Value: FIXTURE_RUN_ID },
      ],
    });
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('SNAPSHOTTING');
  });

  it('counts an existing snapshot of the same name as done (crash before the state write)', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    rds.on(CreateDBClusterSnapshotCommand).rejects(awsError('DBClusterSnapshotAlreadyExistsFault', 'exists'));
    await makeHandler(env.deps)(event0170());
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('SNAPSHOTTING');
  });

  it('does nothing for a duplicate 0170 once the run moved on', async () => {
    await seedRun(env.deps.store, RunStage.SNAPSHOTTING);
    await makeHandler(env.deps)(event0170());
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(0);
  });

  it('waits when the cluster is not available yet', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'creating' }] });
    await makeHandler(env.deps)(pipelineEvent('snapshot', { kind: 'advance', runId: FIXTURE_RUN_ID }));
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(0);
    expect((await env.deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('RESTORING');
  });

  it('fails the run when RDS refuses the snapshot for good', async () => {
    await seedRun(env.deps.store, RunStage.RESTORING);
    rds.on(CreateDBClusterSnapshotCommand).rejects(awsError('SnapshotQuotaExceededFault', 'too many snapshots'));
    await makeHandler(env.deps)(event0170());
    expect(await env.deps.store.get(FIXTURE_RUN_ID)).toMatchObject({
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { kind: 'SnapshotQuotaExceededFault' },
    });
    expect(env.deps.sent).toEqual([{ target: 'cleanup', message: { kind: 'cleanup', runId: FIXTURE_RUN_ID } }]);
  });

  it('ignores a cluster that is not one of its temporary clusters', async () => {
    await makeHandler(env.deps)(rdsEventWith('rds-event-0170-cluster-created.json', { 'Source ID': 'prod-cluster' }));
    expect(rds.calls()).toHaveLength(0);
  });
});
