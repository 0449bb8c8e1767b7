import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { Simulation, type SimulationOptions } from './harness';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { startS3rver, type S3rverHandle } from '../support/s3rver';
import { SOURCE_SECURITY_GROUP, awsError } from '../support/fake-rds';
import { RunStage, StageFunction, type Run } from '../../lambdas/shared/domain/run';

const CREATES = ['RestoreDBClusterFromSnapshot', 'CreateDBClusterSnapshot', 'StartExportTask'];

/** The checks every scenario ends with. */
async function expectSettled(sim: Simulation, runs: Run[], stage: RunStage): Promise<void> {
  expect(runs.map((r) => r.stage)).toEqual(runs.map(() => stage));
  await sim.settleResources();
  expect(sim.rds.leftovers(sim.settings.tempResourcePrefix)).toEqual([]);
  expect(sim.rds.runningExports()).toEqual([]);
  for (const command of CREATES) {
    const targets = sim.rds
      .successfulCalls(command)
      .map((c) =>
        String(c.input.DBClusterIdentifier ?? c.input.DBClusterSnapshotIdentifier ?? c.input.ExportTaskIdentifier),
      );
    expect(new Set(targets).size).toBe(targets.length);
  }
  expect(sim.deadLetters.filter((d) => !/Throttling|SimulatedCrash|CleanupNotFinished/.test(d.error))).toEqual([]);
}

async function expectDelivered(sim: Simulation, run: Run): Promise<void> {
  const exported = (await sim.keys(sim.settings.exportBucket, `${run.exportS3Prefix}/`)).map((k) =>
    k.slice(`${run.exportS3Prefix}/`.length),
  );
  const delivered = await sim.keys(sim.destinationBucket, `${run.destinationPrefix}/`);
  const dataFiles = exported.filter((k) => k.endsWith('.parquet'));
  expect(dataFiles.length).toBeGreaterThan(0);
  for (const key of dataFiles) expect(delivered).toContain(`${run.destinationPrefix}/${key}`);
  expect(delivered).toContain(`${run.destinationPrefix}/_SUCCESS`);
  expect(run.copy?.objectsCopied).toBe(exported.length);
}

describe('Simulation: whole pipelines through the real handlers', () => {
  let sim: Simulation;
  let emulators: { dynalite: DynaliteHandle; s3rver: S3rverHandle };
  const start = (options: SimulationOptions = {}) => Simulation.start({ ...options, emulators });
  beforeAll(async () => {
    const [dynalite, s3rver] = await Promise.all([startDynalite(), startS3rver([])]);
    emulators = { dynalite, s3rver };
  });
  afterAll(async () => {
    await Promise.all([emulators.dynalite.stop(), emulators.s3rver.stop()]);
  });
  afterEach(async () => {
    await sim?.stop();
  });

  it('exports a provisioned cluster snapshot directly, copies it and cleans up', async () => {
    sim = await start();
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(runs[0].path).toBe('direct');
    expect(sim.rds.successfulCalls('RestoreDBClusterFromSnapshot')).toHaveLength(0);
    await expectDelivered(sim, runs[0]);
    expect(sim.alerts.map((a) => a.subject)).toEqual(['[sim] orders-provisioned export SUCCEEDED']);
    expect(sim.metrics.map((m) => Object.keys(m).find((k) => k.startsWith('Run')))).toEqual(['RunSucceeded']);
    expect(runs[0].cleanedUp).toEqual([]);
    expect(sim.alerts[0].text).toContain('Cleaned up: nothing left to delete');
  });

  it('takes an Aurora Serverless v1 snapshot the long way: restore, snapshot, export, copy, cleanup', async () => {
    sim = await start();
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(runs[0].path).toBe('restore');
    const restore = sim.rds.successfulCalls('RestoreDBClusterFromSnapshot')[0].input;
    expect(restore).toMatchObject({
      EngineMode: 'provisioned',
      DeletionProtection: false,
      DBSubnetGroupName: 'private-db-subnets',
    });
    expect(sim.rds.successfulCalls('DeleteDBCluster').every((c) => c.input.SkipFinalSnapshot === true)).toBe(true);
    expect(Object.keys(runs[0].stageEnteredAt)).toEqual(
      expect.arrayContaining(['RESTORING', 'SNAPSHOTTING', 'EXPORTING', 'COPYING', 'CLEANING_UP', 'SUCCEEDED']),
    );
    await expectDelivered(sim, runs[0]);
    const temp = runs[0].tempClusterId as string;
    expect(runs[0].cleanedUp).toEqual([`cluster:${temp}`, `cluster-snapshot:${temp}`]);
    expect(sim.alerts[0].text).toContain(`Cleaned up: temporary cluster ${temp}, temporary cluster snapshot ${temp}`);
  });

  it("restores into the source cluster's subnet group and security groups when the configuration names none, in an account without a default VPC", async () => {
    sim = await start({ settings: { restore: { vpcSecurityGroupIds: [] } } });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(sim.rds.successfulCalls('RestoreDBClusterFromSnapshot')[0].input).toMatchObject({
      DBSubnetGroupName: 'me3-serverless-db-subnets',
      VpcSecurityGroupIds: [SOURCE_SECURITY_GROUP],
    });
  });

  it('tags temporary clusters and snapshots with the configured tags as well as its own', async () => {
    sim = await start({ settings: { tags: { 'cost-center': 'data-lake', 'managed-by': 'not-this' } } });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    const expected = [
      { Key: 'cost-center', Value: 'data-lake' },
      { Key: 'managed-by', Value: 'sim-export-pipeline' },
      { Key: 'run-id', Value: runs[0].runId },
    ];
    expect(sim.rds.successfulCalls('RestoreDBClusterFromSnapshot')[0].input.Tags).toEqual(expected);
    expect(sim.rds.successfulCalls('CreateDBClusterSnapshot')[0].input.Tags).toEqual(expected);
  });

  it.each([
    [
      'RestoreDBClusterFromSnapshot',
      'InsufficientDBClusterCapacityFault',
      'The DB cluster does not have enough capacity',
    ],
    ['RestoreDBClusterFromSnapshot', 'InvalidDBClusterSnapshotStateFault', 'The snapshot is being copied'],
    ['CreateDBClusterSnapshot', 'InvalidDBClusterStateFault', 'DBCluster is in modifying state'],
    ['StartExportTask', 'InvalidExportSourceStateFault', 'The snapshot is not available yet'],
  ])('waits out a %s refused with %s and succeeds once RDS allows it', async (command, fault, message) => {
    sim = await start();
    sim.rds.failNext(command, awsError(fault, message), 2);
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(sim.rds.calls.filter((c) => c.command === command && c.result === fault)).toHaveLength(2);
    expect(sim.deadLetters).toEqual([]);
  });

  it('ends in the same place when every message is delivered three times, two of them at once', async () => {
    sim = await start({ triplicate: true });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(runs).toHaveLength(1);
    await expectDelivered(sim, runs[0]);
    expect(sim.alerts).toHaveLength(1);
  });

  it('copes with events delivered out of order, late and again after the run moved on', async () => {
    sim = await start({ reverse: true, replayStaleEvents: true });
    sim.announceSnapshot('me3-serverless', 'serverless');
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    expect(runs).toHaveLength(2);
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    for (const run of runs) await expectDelivered(sim, run);
    const before = sim.rds.calls.length;
    await sim.tick();
    await sim.drain();
    expect((await sim.allRuns()).map((r) => [r.runId, r.stage])).toEqual(runs.map((r) => [r.runId, 'SUCCEEDED']));
    expect(sim.rds.calls.slice(before).filter((c) => CREATES.includes(c.command) && c.result === 'ok')).toEqual([]);
    expect(await sim.allRuns()).toHaveLength(2);
  });

  it('recovers through the reconciler when every event and message is lost once', async () => {
    sim = await start({ loseEachOnce: true });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled(200);
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    await expectDelivered(sim, runs[0]);
  });

  it('rides out throttling once on every RDS call', async () => {
    sim = await start();
    sim.rds.throttleEachCommandOnce();
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    await expectDelivered(sim, runs[0]);
  });

  it('finishes the work of a crash between the AWS call and the state write', async () => {
    sim = await start({ crashBeforeEachWrite: true });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled(200);
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect([...sim.crashed]).toEqual(
      expect.arrayContaining([
        'RestoreStarted',
        'SnapshotStarted',
        'ExportStarted',
        'ExportCompleted',
        'CopyPlanned',
        'CopySucceeded',
        'CleanupDone',
      ]),
    );
    await expectDelivered(sim, runs[0]);
    expect([...(runs[0].cleanedUp ?? [])].sort()).toEqual([
      `cluster-snapshot:${runs[0].tempClusterId}`,
      `cluster:${runs[0].tempClusterId}`,
    ]);
  });

  it('still delivers the alert, once, after a crash between the final write and the alert', async () => {
    sim = await start({ crashBeforeFirstAlert: true });
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(sim.crashed.has('alert')).toBe(true);
    expect(sim.alerts).toEqual([]);
    for (let i = 0; i < 15; i++) await sim.tick();
    expect(sim.alerts.map((a) => a.subject)).toEqual(['[sim] orders-provisioned export SUCCEEDED']);
    expect((await sim.store.get(runs[0].runId))?.alertSentAt).toBeDefined();
  });

  it('fails and cleans up when the restore is refused for good', async () => {
    sim = await start();
    sim.rds.failNext(
      'RestoreDBClusterFromSnapshot',
      awsError('DBClusterQuotaExceededFault', 'You have reached the maximum allowed DB cluster quota'),
    );
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.FAILED);
    expect(runs[0].error).toMatchObject({ stage: 'PENDING', kind: 'DBClusterQuotaExceededFault' });
    expect(sim.alerts[0].subject).toContain('FAILED');
    expect(sim.metrics.map((m) => Object.keys(m).find((k) => k.startsWith('Run')))).toEqual(['RunFailed']);
  });

  it('fails and cleans up when the snapshot of the temporary cluster fails', async () => {
    sim = await start();
    sim.rds.failNextSnapshotAsync();
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.FAILED);
    expect(runs[0].error?.stage).toBe('SNAPSHOTTING');
  });

  it('fails and cleans up when the export fails (RDS-EVENT-0162)', async () => {
    sim = await start();
    sim.rds.failNextExportAsync('S3 bucket policy denies the export role');
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.FAILED);
    expect(runs[0].error).toMatchObject({ stage: 'EXPORTING', kind: 'ExportFailed' });
    expect(runs[0].error?.message).toContain('S3 bucket policy denies the export role');
  });

  it('fails and cleans up when the destination denies the copy', async () => {
    sim = await start({
      copyS3: (s3) => {
        s3.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'CopyObjectCommand' || context.commandName === 'PutObjectCommand') {
              const e = awsError('AccessDenied', 'Access Denied') as Error & { $metadata: object };
              e.$metadata = { httpStatusCode: 403 };
              throw e;
            }
            return next(args);
          },
          { step: 'initialize', name: 'denyDestination' },
        );
        return s3;
      },
    });
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.FAILED);
    expect(runs[0].error).toMatchObject({ stage: 'COPYING' });
    expect(sim.alerts[0].text).toContain('Error:');
  });

  it('waits for an export slot instead of failing, then exports', async () => {
    sim = await start({ exportSlots: 5 });
    sim.rds.occupyExportSlots(5, 3);
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(runs[0].stageEnteredAt.WAITING_FOR_EXPORT_SLOT).toBeDefined();
    expect(runs[0].exportAttempt).toBeGreaterThan(1);
    await expectDelivered(sim, runs[0]);
  });

  it('waits for a snapshot still being created when a run is cancelled, with nothing in a dead-letter queue', async () => {
    sim = await start({
      onStep: (step) => {
        if (step.type === 'stage' && step.run.stage === RunStage.SNAPSHOTTING)
          sim.publish(StageFunction.CLEANUP, { kind: 'cancel', runId: step.run.runId });
      },
    });
    sim.announceSnapshot('me3-serverless', 'serverless');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.CANCELLED);
    expect(sim.deadLetters).toEqual([]);
    expect(sim.rds.calls.filter((c) => c.command === 'DeleteDBClusterSnapshot').map((c) => c.result)).toEqual([
      'InvalidDBClusterSnapshotStateFault',
      'ok',
    ]);
    const temp = runs[0].tempClusterId as string;
    expect([...(runs[0].cleanedUp ?? [])].sort()).toEqual([`cluster-snapshot:${temp}`, `cluster:${temp}`]);
    expect(runs[0].cleanupWaitingFor).toBeUndefined();
  });

  it('adopts the export task of a delivery that crashed before recording it and whose retry found no free slot, and starts no other', async () => {
    sim = await start({
      crashBeforeFirstWriteOf: ['ExportStarted'],
      onStep: (step) => {
        if (
          step.type === 'failed-invocation' &&
          step.target === StageFunction.START &&
          step.error.startsWith('SimulatedCrash')
        ) {
          sim.rds.failNext(
            'StartExportTask',
            awsError('ExportTaskLimitReachedFault', 'You have reached the limit of 5 concurrent export tasks.'),
          );
        }
      },
    });
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.SUCCEEDED);
    expect(sim.crashed.has('ExportStarted')).toBe(true);
    expect(runs[0]).toMatchObject({
      exportAttempt: 2,
      stageEnteredAt: { WAITING_FOR_EXPORT_SLOT: expect.any(String) },
    });
    expect(runs[0].exportTaskId).toMatch(/-x1$/);
    expect(sim.rds.successfulCalls('StartExportTask').map((c) => c.input.ExportTaskIdentifier)).toEqual([
      runs[0].exportTaskId,
    ]);
    await expectDelivered(sim, runs[0]);
  });

  it("fails a retry fast while an earlier attempt's partial delivery sits at its prefix, and delivers there once the client removed it and the operator reuses the prefix", async () => {
    let denying = true;
    let copies = 0;
    sim = await start({
      copyS3: (s3) => {
        s3.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'CopyObjectCommand' && denying && ++copies > 3) {
              const e = awsError('AccessDenied', 'Access Denied') as Error & { $metadata: object };
              e.$metadata = { httpStatusCode: 403 };
              throw e;
            }
            return next(args);
          },
          { step: 'initialize', name: 'denyAfterThreeCopies' },
        );
        return s3;
      },
    });
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const [first] = await sim.runUntilSettled();
    expect(first).toMatchObject({ stage: 'FAILED', error: { stage: 'COPYING' } });
    const prefix = first.destinationPrefix as string;
    expect(prefix).not.toContain(first.runId);
    const partial = await sim.keys(sim.destinationBucket, `${prefix}/`);
    expect(partial).toHaveLength(3);

    const exportsBefore = sim.rds.successfulCalls('StartExportTask').length;
    sim.publish(StageFunction.START, { kind: 'retry', runId: first.runId });
    const second = (await sim.runUntilSettled()).find((r) => r.attempt === 2) as Run;
    expect(second).toMatchObject({ stage: 'FAILED', error: { stage: 'PENDING', kind: 'PartialDeliveryPresent' } });
    expect(second.error?.message).toContain(`${prefix}/`);
    expect(second.error?.message).toContain(first.runId);
    expect(sim.rds.successfulCalls('StartExportTask')).toHaveLength(exportsBefore);
    expect(await sim.keys(sim.destinationBucket, `${prefix}/`)).toEqual(partial);

    denying = false;
    await sim.s3.send(
      new DeleteObjectsCommand({ Bucket: sim.destinationBucket, Delete: { Objects: partial.map((Key) => ({ Key })) } }),
    );
    sim.publish(StageFunction.START, { kind: 'retry', runId: second.runId, reuseDestination: true });
    const runs = await sim.runUntilSettled();
    const third = runs.find((r) => r.attempt === 3) as Run;
    expect(third).toMatchObject({ stage: 'SUCCEEDED', destinationPrefix: prefix, reuseDestination: true });
    await expectDelivered(sim, third);
    await sim.settleResources();
    expect(sim.rds.leftovers(sim.settings.tempResourcePrefix)).toEqual([]);
    expect(sim.deadLetters).toEqual([]);
  });

  it('fails the run and names the table when a table fails to export', async () => {
    sim = await start({
      tables: [
        { db: 'orders', table: 'public.orders', files: 2 },
        { db: 'orders', table: 'public.audit', files: 1, status: 'FAILED' },
      ],
    });
    sim.announceSnapshot('orders-provisioned', 'provisioned');
    const runs = await sim.runUntilSettled();
    await expectSettled(sim, runs, RunStage.FAILED);
    expect(runs[0].error).toMatchObject({ stage: 'EXPORTING', kind: 'ExportTablesFailed' });
    expect(runs[0].error?.message).toContain('orders.public.audit');
  });

  it('ignores malformed and foreign input without retries', async () => {
    sim = await start();
    sim.deliverRaw(StageFunction.START, 'You have chosen to subscribe to the topic');
    sim.deliverRaw(StageFunction.START, '{"not":"an event"}');
    sim.deliverRaw(StageFunction.START, JSON.stringify({ kind: 'start', clusterId: 'someone-elses-cluster' }), {
      target: 'start',
    });
    sim.deliverRaw(
      StageFunction.SNAPSHOT,
      JSON.stringify({
        'Event Source': 'db-cluster',
        'Event Time': '2026-05-15 09:10:41.570',
        'Source ID': 'prod-cluster',
        'Event ID': 'http://x#RDS-EVENT-0170',
        'Event Message': 'created',
      }),
    );
    const foreign = sim.rds.addSourceSnapshot('not-configured', 'provisioned');
    sim.rds.emitSnapshotCreated(foreign.id);
    await sim.drain();
    expect(await sim.allRuns()).toEqual([]);
    expect(sim.deadLetters).toEqual([]);
    expect(sim.rds.calls.filter((c) => CREATES.includes(c.command))).toEqual([]);
  });
});
