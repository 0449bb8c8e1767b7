import { Simulation } from '../simulation/harness';
import { startDynalite, type DynaliteHandle } from '../support/dynalite';
import { startS3rver, type S3rverHandle } from '../support/s3rver';
import { advanceUntil, SimulatedCli } from '../support/cli-harness';
import { RunStage, StageFunction, type Run } from '../../lambdas/shared/domain/run';

/** A progress line: `YYYY-MM-DD HH:MM:SSZ  <text>`. */
const PROGRESS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z {2}/;

describe('CLI end to end on the simulated pipeline', () => {
  let emulators: { dynalite: DynaliteHandle; s3rver: S3rverHandle };
  let sim: Simulation;
  let cli: SimulatedCli;

  beforeAll(async () => {
    const [dynalite, s3rver] = await Promise.all([startDynalite(), startS3rver([])]);
    emulators = { dynalite, s3rver };
  });
  afterAll(async () => {
    await Promise.all([emulators.dynalite.stop(), emulators.s3rver.stop()]);
  });
  const startSimulation = async () => {
    sim = await Simulation.start({ emulators });
    cli = new SimulatedCli(sim);
  };
  const stopSimulation = async () => {
    cli.dispose();
    await sim.stop();
  };

  // One pipeline run for the three tests: they only read what it left (its output, the run, the delivery).
  describe('runs start --wait, then runs list and runs show', () => {
    let started: Awaited<ReturnType<SimulatedCli['run']>>;
    let run: Run;

    afterAll(stopSimulation);
    beforeAll(async () => {
      await startSimulation();
      const snapshot = sim.rds.addSourceSnapshot('orders-provisioned', 'provisioned');
      started = await cli.run(['runs', 'start', '--cluster', 'orders-provisioned', '--wait']);
      [run] = await sim.allRuns();
      expect(run.sourceSnapshotArn).toBe(snapshot.arn);
    });

    it('drives the newest automated snapshot to SUCCEEDED, printing each stage change as it happens', async () => {
      expect(started.code).toBe(0);
      expect(cli.published).toEqual([
        {
          target: StageFunction.START,
          message: { kind: 'start', clusterId: 'orders-provisioned', snapshotArn: run.sourceSnapshotArn },
        },
      ]);
      expect(run.stage).toBe(RunStage.SUCCEEDED);
      expect(started.stderr.every((l) => PROGRESS.test(l))).toBe(true);
      const progress = started.stderr.map((l) => l.replace(PROGRESS, ''));
      expect(progress[0]).toBe(`start published for ${run.sourceSnapshotArn}; waiting for the run to appear`);
      expect(progress[1]).toBe(`${run.runId} EXPORTING`);
      expect(progress.at(-1)).toBe(`${run.runId} SUCCEEDED`);
      expect(started.stdout).toEqual([
        expect.stringMatching(new RegExp(`^${run.runId} SUCCEEDED after \\d+m \\d{2}s$`)),
      ]);
      expect(await sim.keys(sim.destinationBucket, `${run.destinationPrefix}/_SUCCESS`)).toEqual([
        `${run.destinationPrefix}/_SUCCESS`,
      ]);
    });

    it('lists the run as a table and as JSON with its stage durations and copy counts', async () => {
      const table = await cli.run(['runs', 'list']);
      expect(table.code).toBe(0);
      expect(table.stdout[0]).toMatch(/^RUN ID +CLUSTER +SNAPSHOT +PATH +STAGE +STARTED +DURATION$/);
      expect(table.stdout).toHaveLength(2);
      expect(table.stdout[1].split(/ {2,}/)).toEqual([
        run.runId,
        'orders-provisioned',
        run.sourceSnapshotId,
        'direct',
        'SUCCEEDED',
        expect.stringMatching(/^2026-05-15 /),
        expect.stringMatching(/^\d+m \d{2}s$/),
      ]);

      const listed = JSON.parse((await cli.run(['runs', 'list', '--status', 'finished', '--json'])).out) as {
        runs: Array<Run & { durationMs: number; stages: Array<{ stage: string; durationMs?: number }> }>;
      };
      expect(listed.runs.map((r) => [r.runId, r.stage])).toEqual([[run.runId, 'SUCCEEDED']]);
      expect(listed.runs[0].durationMs).toBeGreaterThan(0);
      expect(listed.runs[0].stages.map((s) => s.stage)).toEqual([
        'PENDING',
        'EXPORTING',
        'COPYING',
        'CLEANING_UP',
        'SUCCEEDED',
      ]);
      expect(listed.runs[0].stages.find((s) => s.stage === 'EXPORTING')?.durationMs).toBeGreaterThan(0);
      expect(listed.runs[0].copy).toMatchObject({ objects: run.copy?.objects, objectsCopied: run.copy?.objects });
      expect(run.copy?.objects).toBeGreaterThan(0);

      expect((await cli.run(['runs', 'list', '--status', 'active'])).out).toMatch(
        /^No runs updated since 2026-05-\d{2} \d{2}:\d{2}:\d{2}Z\.$/,
      );
    });

    it('shows every stage with its duration, the export task and the copy counts, as text and as JSON', async () => {
      const shown = await cli.run(['runs', 'show', run.runId]);
      expect(shown.code).toBe(0);
      const text = shown.stdout;
      expect(text[0]).toBe(`Run ${run.runId}`);
      expect(text).toContain(`  stage     SUCCEEDED (attempt 1)`);
      const stages = text
        .slice(text.indexOf('Stages') + 2, text.indexOf('Stages') + 7)
        .map((l) => l.trim().split(/ {2,}/));
      expect(stages.map((s) => s[0])).toEqual(['PENDING', 'EXPORTING', 'COPYING', 'CLEANING_UP', 'SUCCEEDED']);
      expect(stages.find((s) => s[0] === 'EXPORTING')?.[2]).toMatch(/^\d+m \d{2}s$/);
      expect(text).toContain(`  task      ${run.exportTaskId}`);
      expect(text).toContain(`  output    s3://${sim.settings.exportBucket}/${run.exportS3Prefix}`);
      expect(text).toContain(`  objects      ${run.copy?.objects} of ${run.copy?.objects} copied`);
      expect(text).toContain(`  destination  ${run.destinationPrefix}`);

      const json = JSON.parse((await cli.run(['runs', 'show', run.runId, '--json'])).out) as {
        run: Run & { stages: Array<{ stage: string; durationMs?: number }> };
      };
      expect(json.run).toMatchObject({
        runId: run.runId,
        stage: 'SUCCEEDED',
        exportTaskId: run.exportTaskId,
        copy: { objectsCopied: run.copy?.objects, bytesCopied: run.copy?.bytes },
      });
      expect(
        json.run.stages.filter((s) => s.stage !== 'SUCCEEDED').every((s) => typeof s.durationMs === 'number'),
      ).toBe(true);
    });
  });

  describe('each test on a simulation of its own', () => {
    beforeEach(startSimulation);
    afterEach(stopSimulation);

    it("refuses a backfill whose delivery prefix holds the day's delivery, before any restore or export", async () => {
      sim.rds.addSourceSnapshot('orders-provisioned', 'provisioned');
      expect((await cli.run(['runs', 'start', '--cluster', 'orders-provisioned', '--wait'])).code).toBe(0);
      const [delivered] = await sim.allRuns();
      const sameDay = sim.rds.addSourceSnapshot(
        'orders-provisioned',
        'provisioned',
        new Date(sim.now().getTime() + 3_600_000),
      );
      const exportsBefore = sim.rds.successfulCalls('StartExportTask').length;

      const refused = await cli.run(['runs', 'start', '--cluster', 'orders-provisioned', '--snapshot', sameDay.id]);

      expect(refused.code).toBe(1);
      expect(refused.stderr.join('\n')).toContain(
        `the destination prefix ${delivered.destinationPrefix} of ${sim.settings.destination.accessPointArn ?? sim.settings.destination.bucket} already holds the delivery of run ${delivered.runId}`,
      );
      expect(cli.published).toHaveLength(1);
      expect(sim.rds.successfulCalls('StartExportTask')).toHaveLength(exportsBefore);
      expect(sim.rds.successfulCalls('RestoreDBClusterFromSnapshot')).toHaveLength(0);
      expect(await sim.allRuns()).toHaveLength(1);
    });

    it('cancels a run in flight: its export task is cancelled, its temporary cluster and snapshot are deleted, it ends CANCELLED', async () => {
      const snapshot = sim.rds.addSourceSnapshot('me3-serverless', 'serverless');
      const asked = await cli.run(['runs', 'start', '--cluster', 'me3-serverless']);
      expect(asked.code).toBe(0);
      expect(asked.out).toBe(
        `Asked the start function to export ${snapshot.arn}. Follow it with: npm run -s pipeline -- runs list --cluster me3-serverless`,
      );
      const exporting = await advanceUntil(sim, (r) => r.stage === RunStage.EXPORTING);
      expect(exporting.path).toBe('restore');
      expect(sim.rds.runningExports()).toEqual([exporting.exportTaskId]);
      expect(sim.rds.leftovers(sim.settings.tempResourcePrefix).length).toBeGreaterThan(0);

      const cancelled = await cli.run(['runs', 'cancel', exporting.runId, '--wait']);
      expect(cancelled.code).toBe(0);
      expect(cli.published.at(-1)).toEqual({
        target: StageFunction.CLEANUP,
        message: { kind: 'cancel', runId: exporting.runId },
      });
      expect(cancelled.stdout[0]).toMatch(new RegExp(`^${exporting.runId} CANCELLED after `));
      expect(cancelled.stderr.at(-1)?.replace(PROGRESS, '')).toBe(
        `${exporting.runId} CANCELLED (Cancelled: cancelled by an operator)`,
      );
      const run = (await sim.allRuns())[0];
      expect(run.stage).toBe(RunStage.CANCELLED);
      expect(sim.rds.successfulCalls('CancelExportTask').map((c) => c.input.ExportTaskIdentifier)).toEqual([
        exporting.exportTaskId,
      ]);
      await sim.settleResources();
      expect(sim.rds.leftovers(sim.settings.tempResourcePrefix)).toEqual([]);
      expect(sim.rds.runningExports()).toEqual([]);
      expect(await sim.keys(sim.destinationBucket)).toEqual([]);

      const again = await cli.run(['runs', 'cancel', exporting.runId]);
      expect(again.code).toBe(1);
      expect(again.err).toBe(`error: ${exporting.runId} has already ended (CANCELLED); nothing to cancel`);
    });

    it('retries a FAILED run: attempt 2 of the same snapshot runs to SUCCEEDED', async () => {
      sim.rds.failNextExportAsync('The export failed: S3 write error');
      sim.rds.addSourceSnapshot('orders-provisioned', 'provisioned');
      const first = await cli.run(['runs', 'start', '--cluster', 'orders-provisioned', '--wait']);
      expect(first.code).toBe(1);
      const [failed] = await sim.allRuns();
      expect(failed).toMatchObject({ stage: RunStage.FAILED, attempt: 1 });
      expect(first.stdout[1]).toMatch(/^error \(EXPORTING, ExportFailed\): .*S3 write error/);

      const retried = await cli.run(['runs', 'retry', failed.runId, '--wait', '--json']);
      expect(retried.code).toBe(0);
      expect(cli.published.at(-1)).toEqual({
        target: StageFunction.START,
        message: { kind: 'retry', runId: failed.runId },
      });
      const result = JSON.parse(retried.out) as { retriedRunId: string; run: Run };
      expect(result.retriedRunId).toBe(failed.runId);
      expect(result.run).toMatchObject({ attempt: 2, stage: 'SUCCEEDED', sourceSnapshotArn: failed.sourceSnapshotArn });
      expect(result.run.runId).not.toBe(failed.runId);
      expect(retried.stderr.map((l) => l.replace(PROGRESS, ''))).toEqual(
        expect.arrayContaining([
          `retry published for ${failed.runId}; waiting for attempt 2`,
          `${result.run.runId} SUCCEEDED`,
        ]),
      );
      await sim.settleResources();
      expect(sim.rds.leftovers(sim.settings.tempResourcePrefix)).toEqual([]);

      const listed = await cli.run(['runs', 'list', '--cluster', 'orders-provisioned']);
      expect(listed.stdout.slice(1).map((l) => l.split(/ {2,}/)[4])).toEqual(
        expect.arrayContaining(['FAILED', 'SUCCEEDED']),
      );
      const again = await cli.run(['runs', 'retry', failed.runId]);
      expect(again.code).toBe(1);
      expect(again.err).toContain(`already has a later attempt: run ${result.run.runId} (SUCCEEDED)`);
    });
  });
});
