import { mockClient } from 'aws-sdk-client-mock';
import {
  CancelExportTaskCommand,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeExportTasksCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/cleanup/handler';
import { RunStage } from '../../../lambdas/shared/domain/run';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { testDeps, type TestDeps } from '../../support/stage-deps';
import { pipelineEvent } from '../../support/events';
import { FIXTURE_RUN_ID, seedRun } from '../../support/runs';
import { awsError } from '../../support/fake-rds';

const rds = mockClient(RDSClient);
const TEMP = `sim-tmp-${FIXTURE_RUN_ID}`;
const cleanup = () => pipelineEvent('cleanup', { kind: 'cleanup', runId: FIXTURE_RUN_ID });

describe('Handler: cleanup', () => {
  let db: DynaliteHandle;
  let deps: TestDeps;
  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(async () => {
    await db.stop();
  });
  beforeEach(async () => {
    deps = await testDeps(db);
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: TEMP, Status: 'available' }] });
    rds.on(DeleteDBClusterCommand).resolves({});
    rds.on(DeleteDBClusterSnapshotCommand).resolves({});
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'COMPLETE' }] });
  });
  afterEach(() => rds.reset());

  it('deletes the temporary snapshot and cluster, finishes the run SUCCEEDED and reports it', async () => {
    await seedRun(deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'SUCCEEDED', copy: { objects: 3, bytes: 3072, batchesTotal: 1, batchesDone: 1, objectsCopied: 3, bytesCopied: 3072 } } });
    await makeHandler(deps)(cleanup());
    expect(rds.commandCalls(DeleteDBClusterSnapshotCommand)[0].args[0].input).toEqual({ DBClusterSnapshotIdentifier: TEMP });
    expect(rds.commandCalls(DeleteDBClusterCommand)[0].args[0].input).toEqual({ DBClusterIdentifier: TEMP, SkipFinalSnapshot: true });
    expect(await deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'SUCCEEDED', cleanedUp: [`cluster-snapshot:${TEMP}`, `cluster:${TEMP}`] });
    expect(deps.metricLines).toEqual([expect.objectContaining({ RunSucceeded: 1, Pipeline: 'sim' })]);
    expect(deps.alertsSent[0].subject).toBe('[sim] me3-serverless export SUCCEEDED');
    expect(deps.alertsSent[0].text).toContain('Objects: 3');
    expect(deps.alertsSent[0].text).toMatch(/Stages: PENDING/);
  });

  it('treats resources already gone as cleaned up, and can run again', async () => {
    await seedRun(deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED', error: { stage: 'EXPORTING', kind: 'ExportFailed', message: 'boom' } } });
    rds.on(DescribeDBClustersCommand).rejects(awsError('DBClusterNotFoundFault', 'not found'));
    rds.on(DeleteDBClusterSnapshotCommand).rejects(awsError('DBClusterSnapshotNotFoundFault', 'not found'));
    const handler = makeHandler(deps);
    await handler(cleanup());
    await handler(cleanup());
    expect(await deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'FAILED', cleanedUp: [] });
    expect(deps.metricLines).toEqual([expect.objectContaining({ RunFailed: 1 })]);
    expect(deps.alertsSent).toHaveLength(1);
    expect(deps.alertsSent[0].text).toContain('Error: ExportFailed: boom');
  });

  it('cancels a running export of a failed run', async () => {
    await seedRun(deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds.on(DescribeExportTasksCommand).resolves({ ExportTasks: [{ Status: 'IN_PROGRESS' }] });
    rds.on(CancelExportTaskCommand).resolves({});
    await makeHandler(deps)(cleanup());
    expect(rds.commandCalls(CancelExportTaskCommand)).toHaveLength(1);
  });

  it('throws to be retried while the temporary snapshot is still being created, and keeps the run CLEANING_UP', async () => {
    await seedRun(deps.store, RunStage.CLEANING_UP, { extra: { outcome: 'FAILED' } });
    rds.on(DeleteDBClusterSnapshotCommand).rejects(awsError('InvalidDBClusterSnapshotStateFault', 'snapshot is creating'));
    await expect(makeHandler(deps)(cleanup())).rejects.toThrow('must wait for cluster-snapshot');
    expect((await deps.store.get(FIXTURE_RUN_ID))?.stage).toBe('CLEANING_UP');
  });

  it('cancels a live run on an operator cancel, then cleans it up', async () => {
    await seedRun(deps.store, RunStage.SNAPSHOTTING);
    await makeHandler(deps)(pipelineEvent('cleanup', { kind: 'cancel', runId: FIXTURE_RUN_ID }));
    expect(await deps.store.get(FIXTURE_RUN_ID)).toMatchObject({ stage: 'CANCELLED', error: { kind: 'Cancelled' } });
  });

  it('ignores a cleanup for a run that is not cleaning up', async () => {
    await seedRun(deps.store, RunStage.EXPORTING);
    await makeHandler(deps)(cleanup());
    expect(rds.calls()).toHaveLength(0);
  });
});
