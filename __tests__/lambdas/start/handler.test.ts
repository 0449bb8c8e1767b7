import {
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  RestoreDBClusterFromSnapshotCommand,
  StartExportTaskCommand,
} from '@aws-sdk/client-rds';
import { makeHandler } from '../../../lambdas/start/handler';
import { runIdFor } from '../../../lambdas/shared/domain/naming';
import { useStageDeps } from '../../support/stage-deps';
import { loadEvent, pipelineEvent, rdsEventWith } from '../../support/events';
import { awsError } from '../../support/fake-rds';
import { checkRdsRequest } from '../../support/rds-model';
import type { Run } from '../../../lambdas/shared/domain/run';
import { CopyBatchStore } from '../../../lambdas/shared/adapters/copy-batch-store';
import { destinationOf, runDestinationPrefix } from '../../../lambdas/shared/stage/destination';

const SNAP_ID = 'rds:orders-provisioned-2026-05-15-09-10';
const SNAP_ARN = `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:${SNAP_ID}`;
const RUN_ID = runIdFor(SNAP_ID);

function snapshot(over: Record<string, unknown> = {}) {
  return {
    DBClusterSnapshotIdentifier: SNAP_ID,
    DBClusterSnapshotArn: SNAP_ARN,
    DBClusterIdentifier: 'orders-provisioned',
    Status: 'available',
    EngineMode: 'provisioned',
    Engine: 'aurora-postgresql',
    EngineVersion: '15.4',
    SnapshotCreateTime: new Date('2026-05-15T09:10:00Z'),
    ...over,
  };
}

describe('Handler: start', () => {
  const env = useStageDeps({
    stub: (rds) => {
      rds.on(StartExportTaskCommand).resolves({});
      rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
    },
  });
  const { rds } = env;

  it('exports a provisioned snapshot directly with the run-derived task id, prefix, role and key', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    const input = rds.commandCalls(StartExportTaskCommand)[0].args[0].input;
    expect(input).toEqual({
      ExportTaskIdentifier: `sim-tmp-${RUN_ID}-x1`,
      SourceArn: SNAP_ARN,
      S3BucketName: 'sim-exports',
      S3Prefix: `exports/${RUN_ID}`,
      IamRoleArn: env.deps.settings.exportRoleArn,
      KmsKeyId: env.deps.settings.exportKmsKeyArn,
    });
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({
      stage: 'EXPORTING',
      path: 'direct',
      exportS3Prefix: `exports/${RUN_ID}/sim-tmp-${RUN_ID}-x1`,
    });
  });

  it("passes the cluster's ExportOnly list to the export", async () => {
    await env.rebuild({
      settings: {
        sourceClusters: [
          { identifier: 'orders-provisioned', exportMode: 'direct', exportOnly: ['orders.public.orders'] },
        ],
      },
    });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(StartExportTaskCommand)[0].args[0].input.ExportOnly).toEqual(['orders.public.orders']);
  });

  it('fails a direct-mode run whose snapshot RDS cannot export, instead of restoring it', async () => {
    await env.rebuild({
      settings: { sourceClusters: [{ identifier: 'orders-provisioned', exportMode: 'direct', exportOnly: [] }] },
    });
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolves({ DBClusterSnapshots: [snapshot({ EngineMode: 'serverless' })] });
    rds
      .on(StartExportTaskCommand)
      .rejects(awsError('InvalidParameterValue', 'Export of Aurora Serverless v1 snapshots is not supported'));
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(0);
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { kind: 'InvalidParameterValue' },
    });
  });

  it('changes nothing on a second 0169 for the same snapshot', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    const handler = makeHandler(env.deps);
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(1);
  });

  it('restores an Aurora Serverless v1 snapshot to a tagged, provisioned cluster without deletion protection, sending only parameters AWS documents for Aurora', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [snapshot({ DBClusterIdentifier: 'me3-serverless', EngineMode: 'serverless' })],
    });
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(0);
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0].args[0].input).toMatchObject({
      DBClusterIdentifier: `sim-tmp-${RUN_ID}`,
      SnapshotIdentifier: SNAP_ARN,
      EngineMode: 'provisioned',
      DeletionProtection: false,
      DBSubnetGroupName: 'private-db-subnets',
      VpcSecurityGroupIds: ['sg-0123456789abcdef0'],
      Tags: [
        { Key: 'managed-by', Value: 'sim-export-pipeline' },
        { Key: 'run-id', Value: RUN_ID },
      ],
    });
    const restore = rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0].args[0].input;
    expect(checkRdsRequest('RestoreDBClusterFromSnapshot', { ...restore })).toEqual([]);
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({ stage: 'RESTORING', tempClusterId: `sim-tmp-${RUN_ID}` });
  });

  it("restores into the source cluster's subnet group with the configured security groups when only those are configured", async () => {
    await env.rebuild({ settings: { restore: { vpcSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'] } } });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [snapshot({ DBClusterIdentifier: 'me3-serverless', EngineMode: 'serverless' })],
    });
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'me3-serverless',
          DBSubnetGroup: 'me3-db-subnets',
          VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0bbbbbbbbbbbbbbbb', Status: 'active' }],
        },
      ],
    });
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(DescribeDBClustersCommand)[0].args[0].input).toEqual({
      DBClusterIdentifier: 'me3-serverless',
    });
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0].args[0].input).toMatchObject({
      DBSubnetGroupName: 'me3-db-subnets',
      VpcSecurityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'],
    });
  });

  it('fails the run, naming the setting to add, when no subnet group is configured and the source cluster is gone', async () => {
    await env.rebuild({ settings: { restore: { vpcSecurityGroupIds: [] } } });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [snapshot({ DBClusterIdentifier: 'me3-serverless', EngineMode: 'serverless' })],
    });
    rds
      .on(DescribeDBClustersCommand)
      .rejects(awsError('DBClusterNotFoundFault', 'DBCluster me3-serverless not found.'));
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(0);
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { kind: 'RestoreNetworkUnknown', message: expect.stringContaining('restore.dbSubnetGroupName') },
    });
  });

  it('falls back to the restore path in auto mode when StartExportTask rejects the snapshot as unsupported', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    rds
      .on(StartExportTaskCommand)
      .rejects(awsError('InvalidParameterValue', 'Exporting this snapshot is not supported'));
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(1);
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({ stage: 'RESTORING', path: 'restore' });
  });

  it('puts the run in WAITING_FOR_EXPORT_SLOT, not FAILED, when the export limit is reached', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    rds
      .on(StartExportTaskCommand)
      .rejects(awsError('ExportTaskLimitReachedFault', 'You have reached the limit of 5 concurrent export tasks'));
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({ stage: 'WAITING_FOR_EXPORT_SLOT', exportAttempt: 2 });
  });

  it('throws on throttling so Lambda retries, leaving a PENDING run the retry continues', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    rds.on(StartExportTaskCommand).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded')).resolves({});
    const handler = makeHandler(env.deps);
    await expect(handler(loadEvent('rds-event-0169-automated-snapshot.json'))).rejects.toThrow('Rate exceeded');
    expect((await env.deps.store.get(RUN_ID))?.stage).toBe('PENDING');
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect((await env.deps.store.get(RUN_ID))?.stage).toBe('EXPORTING');
  });

  it('ignores an 0169 for a cluster that is not configured', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .resolves({ DBClusterSnapshots: [snapshot({ DBClusterIdentifier: 'someone-else' })] });
    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));
    expect(await env.deps.store.get(RUN_ID)).toBeUndefined();
  });

  it('ignores plain text, foreign events and events for other stages without throwing', async () => {
    const handler = makeHandler(env.deps);
    await handler(loadEvent('sns-subscription-plain-text.json'));
    await handler(loadEvent('rds-event-0001-foreign.json'));
    await handler(loadEvent('rds-event-0170-cluster-created.json'));
    expect(rds.calls()).toHaveLength(0);
  });

  it('ignores a manual start naming a snapshot that RDS refuses as malformed, without throwing', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand)
      .rejects(
        awsError('InvalidParameterValue', 'The parameter DBClusterSnapshotIdentifier is not a valid identifier.'),
      );
    await makeHandler(env.deps)(
      pipelineEvent('start', { kind: 'start', clusterId: 'orders-provisioned', snapshotArn: 'not--a snapshot' }),
    );
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(0);
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(0);
  });

  it('starts the newest automated snapshot of a cluster on a manual start', async () => {
    rds
      .on(DescribeDBClusterSnapshotsCommand, { DBClusterIdentifier: 'orders-provisioned', SnapshotType: 'automated' })
      .resolves({
        DBClusterSnapshots: [
          snapshot({
            DBClusterSnapshotIdentifier: 'rds:orders-provisioned-2026-05-14-09-10',
            SnapshotCreateTime: new Date('2026-05-14T09:10:00Z'),
          }),
          snapshot(),
        ],
      });
    await makeHandler(env.deps)(pipelineEvent('start', { kind: 'start', clusterId: 'orders-provisioned' }));
    expect(await env.deps.store.get(RUN_ID)).toMatchObject({ stage: 'EXPORTING', sourceSnapshotId: SNAP_ID });
  });

  it('starts a second attempt with its own run id on retry of a failed run', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    rds.on(StartExportTaskCommand).rejectsOnce(awsError('KMSKeyNotAccessibleFault', 'key disabled')).resolves({});
    const handler = makeHandler(env.deps);
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    await env.deps.store.apply(RUN_ID, 'CLEANING_UP', { type: 'CleanupDone', cleanedUp: [] });
    expect((await env.deps.store.get(RUN_ID))?.error).toMatchObject({ kind: 'KMSKeyNotAccessibleFault' });
    await handler(pipelineEvent('start', { kind: 'retry', runId: RUN_ID }));
    expect(await env.deps.store.get(runIdFor(SNAP_ID, 2))).toMatchObject({ attempt: 2, stage: 'EXPORTING' });
    expect(rds.commandCalls(StartExportTaskCommand)[1].args[0].input.ExportTaskIdentifier).toBe(
      `sim-tmp-${runIdFor(SNAP_ID, 2)}-x1`,
    );
  });

  it('fails a retry at once, before any export, when an earlier attempt left a partial delivery at its prefix; a retry that may reuse it goes on', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    const handler = makeHandler(env.deps);
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    const first = (await env.deps.store.get(RUN_ID)) as Run;
    const batches = new CopyBatchStore({ tableName: env.deps.settings.tableName, client: env.deps.store.client });
    const prefix = runDestinationPrefix(env.deps.settings, first);
    expect(prefix).toBe('lake/orders-provisioned/2026-05-15');
    await batches.claimDestination(destinationOf(env.deps.settings), prefix, first);
    await batches.recordCopied(RUN_ID, 0, [{ index: 0, etag: '"e0"' }]);
    await env.deps.store.apply(RUN_ID, 'EXPORTING', {
      type: 'Failed',
      stage: 'COPYING',
      kind: 'AccessDenied',
      message: 'denied',
    });
    await env.deps.store.apply(RUN_ID, 'CLEANING_UP', { type: 'CleanupDone', cleanedUp: [] });

    await handler(pipelineEvent('start', { kind: 'retry', runId: RUN_ID }));
    const second = await env.deps.store.get(runIdFor(SNAP_ID, 2));
    expect(second).toMatchObject({
      attempt: 2,
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { stage: 'PENDING', kind: 'PartialDeliveryPresent' },
    });
    expect(second?.error?.message).toContain(`${prefix}/`);
    expect(second?.error?.message).toContain(RUN_ID);
    expect(second?.error?.message).toContain(`runs retry ${runIdFor(SNAP_ID, 2)} --reuse-destination`);
    expect(second?.error?.message).toContain('{runId}');
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(1);

    await env.deps.store.apply(runIdFor(SNAP_ID, 2), 'CLEANING_UP', { type: 'CleanupDone', cleanedUp: [] });
    await handler(pipelineEvent('start', { kind: 'retry', runId: runIdFor(SNAP_ID, 2), reuseDestination: true }));
    expect(await env.deps.store.get(runIdFor(SNAP_ID, 3))).toMatchObject({
      attempt: 3,
      stage: 'EXPORTING',
      reuseDestination: true,
    });
  });

  it("fails a first attempt at once, before any export, when another snapshot's run already delivered to its prefix", async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    const prefix = 'lake/orders-provisioned/2026-05-15';
    const batches = new CopyBatchStore({ tableName: env.deps.settings.tableName, client: env.deps.store.client });
    const backfill = {
      runId: runIdFor('orders-provisioned-backfill'),
      sourceSnapshotArn: `${SNAP_ARN}-backfill`,
    };
    await batches.claimDestination(destinationOf(env.deps.settings), prefix, backfill);

    await makeHandler(env.deps)(loadEvent('rds-event-0169-automated-snapshot.json'));

    const run = await env.deps.store.get(RUN_ID);
    expect(run).toMatchObject({
      attempt: 1,
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { stage: 'PENDING', kind: 'DestinationTaken' },
    });
    expect(run?.error?.message).toContain(backfill.runId);
    expect(rds.commandCalls(StartExportTaskCommand)).toHaveLength(0);
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(0);
  });

  it('refuses to retry a run that is still live', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    const handler = makeHandler(env.deps);
    await handler(loadEvent('rds-event-0169-automated-snapshot.json'));
    await handler(pipelineEvent('start', { kind: 'retry', runId: RUN_ID }));
    expect(await env.deps.store.get(runIdFor(SNAP_ID, 2))).toBeUndefined();
  });

  it('looks the automated snapshot up by its ARN, not by string surgery on the id, with the SnapshotType AWS requires for it', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [snapshot()] });
    await makeHandler(env.deps)(rdsEventWith('rds-event-0169-automated-snapshot.json', {}));
    const input = rds.commandCalls(DescribeDBClusterSnapshotsCommand)[0].args[0].input;
    expect(input).toEqual({ DBClusterSnapshotIdentifier: SNAP_ARN, SnapshotType: 'automated' });
    expect(checkRdsRequest('DescribeDBClusterSnapshots', { ...input })).toEqual([]);
  });
});
