import { mockClient } from 'aws-sdk-client-mock';
import { DescribeExportTasksCommand, RDSClient } from '@aws-sdk/client-rds';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { makeHandler } from '../../../lambdas/export-finished/handler';
import { ExportPath, RunStage, type Run } from '../../../lambdas/shared/domain/run';
import { startDynalite, type DynaliteHandle } from '../../support/dynalite';
import { startS3rver, type S3rverHandle } from '../../support/s3rver';
import { testDeps, type TestDeps } from '../../support/stage-deps';
import { loadEvent, pipelineEvent, rdsEventWith } from '../../support/events';
import { FIXTURE_RUN_ID, seedRun } from '../../support/runs';

const rds = mockClient(RDSClient);
const TEMP = `sim-tmp-${FIXTURE_RUN_ID}`;

async function writeTablesInfo(
  s3: S3rverHandle,
  run: Run,
  tables: { target: string; status: string; failureCause?: string }[],
) {
  await s3.client().send(
    new PutObjectCommand({
      Bucket: 'sim-exports',
      Key: `${run.exportS3Prefix}/export_tables_info_${run.exportTaskId}_from_1_to_${tables.length}.json`,
      Body: JSON.stringify({
        perTableStatus: tables.map((t) => ({ TableStatistics: {}, schemaMetadata: {}, sizeGB: 0, ...t })),
      }),
    }),
  );
}

describe('Handler: export-finished', () => {
  let db: DynaliteHandle;
  let s3: S3rverHandle;
  let deps: TestDeps;
  let run: Run;
  beforeAll(async () => {
    [db, s3] = await Promise.all([startDynalite(), startS3rver(['sim-exports'])]);
  });
  afterAll(async () => {
    await Promise.all([db.stop(), s3.stop()]);
  });
  afterEach(() => rds.reset());

  async function setUp(
    tableFailurePolicy: 'fail' | 'warn' = 'fail',
    path: ExportPath = ExportPath.RESTORE,
  ): Promise<void> {
    deps = await testDeps(db, { s3: s3.client(), settings: { tableFailurePolicy } });
    run = await seedRun(deps.store, RunStage.EXPORTING, {
      path,
      runId: `${FIXTURE_RUN_ID}-${Math.random().toString(36).slice(2, 8)}`,
    });
    rds
      .on(DescribeExportTasksCommand)
      .resolves({ ExportTasks: [{ ExportTaskIdentifier: run.exportTaskId, Status: 'COMPLETE' }] });
  }
  const advance = () => pipelineEvent('export-finished', { kind: 'advance', runId: run.runId });

  it('moves a complete export to COPYING and asks the copy stage to plan it', async () => {
    await setUp();
    await writeTablesInfo(s3, run, [{ target: 'orders.public.orders', status: 'COMPLETE' }]);
    await makeHandler(deps)(advance());
    expect((await deps.store.get(run.runId))?.stage).toBe('COPYING');
    expect(deps.sent).toEqual([{ target: 'copy', message: { kind: 'copy-plan', runId: run.runId } }]);
  });

  it('fails the run and names every failed or skipped table', async () => {
    await setUp();
    await writeTablesInfo(s3, run, [
      { target: 'orders.public.orders', status: 'COMPLETE' },
      { target: 'orders.public.audit', status: 'FAILED', failureCause: 'unsupported type' },
      { target: 'orders.public.tmp', status: 'SKIPPED' },
    ]);
    await makeHandler(deps)(advance());
    const after = await deps.store.get(run.runId);
    expect(after).toMatchObject({
      stage: 'CLEANING_UP',
      outcome: 'FAILED',
      error: { stage: 'EXPORTING', kind: 'ExportTablesFailed' },
    });
    expect(after?.error?.message).toContain('orders.public.audit (FAILED: unsupported type)');
    expect(after?.error?.message).toContain('orders.public.tmp (SKIPPED)');
    expect(deps.sent).toEqual([{ target: 'cleanup', message: { kind: 'cleanup', runId: run.runId } }]);
  });

  it('fails a run whose thousands of failed tables would not fit the run item, naming the first and counting the rest', async () => {
    await setUp();
    const failed = Array.from({ length: 3_000 }, (_, i) => ({
      target: `orders.public.t${String(i).padStart(4, '0')}`,
      status: 'FAILED',
      failureCause: `cause ${'x'.repeat(400)}`,
    }));
    await writeTablesInfo(s3, run, failed);
    await makeHandler(deps)(advance());
    const after = await deps.store.get(run.runId);
    expect(after).toMatchObject({ stage: 'CLEANING_UP', outcome: 'FAILED', error: { kind: 'ExportTablesFailed' } });
    expect(after?.error?.message).toContain('3000 table(s) not complete: orders.public.t0000 (FAILED: cause');
    expect(after?.error?.message).toContain('and 2975 more');
    expect(after?.error?.message).not.toContain('orders.public.t0025');
  });

  it('reads the status files naming our account as the export bucket owner on every call', async () => {
    await setUp();
    await writeTablesInfo(s3, run, [{ target: 'orders.public.orders', status: 'COMPLETE' }]);
    const owners: Array<[string, unknown]> = [];
    deps.s3.middlewareStack.add(
      (next, context) => async (args) => {
        owners.push([
          String(context.commandName),
          (args.input as { ExpectedBucketOwner?: unknown }).ExpectedBucketOwner,
        ]);
        return next(args);
      },
      { step: 'initialize', name: 'record-expected-owner' },
    );
    await makeHandler(deps)(advance());
    expect(owners).toEqual([
      ['ListObjectsV2Command', deps.settings.accountId],
      ['GetObjectCommand', deps.settings.accountId],
    ]);
  });

  it('only warns about failed tables when configured to', async () => {
    await setUp('warn');
    await writeTablesInfo(s3, run, [{ target: 'orders.public.audit', status: 'FAILED' }]);
    await makeHandler(deps)(advance());
    expect(await deps.store.get(run.runId)).toMatchObject({
      stage: 'COPYING',
      warnings: [expect.stringContaining('orders.public.audit')],
    });
  });

  it('fails the run with the failure cause of an export that failed (0162)', async () => {
    await setUp();
    rds.on(DescribeExportTasksCommand).resolves({
      ExportTasks: [
        { ExportTaskIdentifier: run.exportTaskId, Status: 'FAILED', FailureCause: 'The IAM role lacks s3:PutObject' },
      ],
    });
    await makeHandler(deps)(rdsEventWith('rds-event-0162-export-failed.json', { 'Source ID': `sim-tmp-${run.runId}` }));
    expect((await deps.store.get(run.runId))?.error).toMatchObject({
      kind: 'ExportFailed',
      message: expect.stringContaining('The IAM role lacks s3:PutObject'),
    });
  });

  it('finds a direct-path run from the source snapshot of a 0164', async () => {
    await setUp('fail', ExportPath.DIRECT);
    await writeTablesInfo(s3, run, [{ target: 'orders.public.orders', status: 'COMPLETE' }]);
    await makeHandler(deps)(
      rdsEventWith('rds-event-0164-export-completed.json', {
        'Source ID': run.sourceSnapshotId,
        'Source ARN': run.sourceSnapshotArn,
      }),
    );
    expect((await deps.store.get(run.runId))?.stage).toBe('COPYING');
  });

  it.each([ExportPath.DIRECT, ExportPath.RESTORE])(
    'logs that the run already moved on when a 0164 of the %s path is delivered again after the run finished',
    async (path) => {
      await setUp('fail', path);
      await deps.store.update(run.runId, { set: { stage: RunStage.SUCCEEDED } });
      const info = jest.spyOn(deps.logger, 'info');
      await makeHandler(deps)(
        rdsEventWith('rds-event-0164-export-completed.json', {
          'Source ID': path === ExportPath.DIRECT ? run.sourceSnapshotId : `sim-tmp-${run.runId}`,
          'Source ARN':
            path === ExportPath.DIRECT
              ? run.sourceSnapshotArn
              : `arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:sim-tmp-${run.runId}`,
        }),
      );
      const messages = info.mock.calls.map((c) => c[0]);
      expect(messages).toContain('the run already moved on; nothing to do');
      expect(messages.filter((m) => /belongs to no run/.test(String(m)))).toEqual([]);
      expect(info).toHaveBeenCalledWith('the run already moved on; nothing to do', { stage: 'SUCCEEDED' });
      expect(rds.calls()).toHaveLength(0);
      expect((await deps.store.get(run.runId))?.stage).toBe('SUCCEEDED');
    },
  );

  it('waits when the task is still running', async () => {
    await setUp();
    rds
      .on(DescribeExportTasksCommand)
      .resolves({ ExportTasks: [{ ExportTaskIdentifier: run.exportTaskId, Status: 'IN_PROGRESS' }] });
    await makeHandler(deps)(advance());
    expect((await deps.store.get(run.runId))?.stage).toBe('EXPORTING');
  });

  it('ignores an export event of a snapshot with no exporting run', async () => {
    await setUp();
    await makeHandler(deps)(loadEvent('rds-event-0164-export-completed.json'));
    expect(rds.calls()).toHaveLength(0);
    expect(TEMP).toContain('sim-tmp-');
  });
});
